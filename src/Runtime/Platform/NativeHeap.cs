using System.Runtime.InteropServices;

namespace ImprovedDdpm;

/// <summary>
/// How glibc's allocator treats libtorch's large tensors. By default glibc serves a block of more than 128 KiB with its
/// own mapping, returned to the system when freed, but after every such free it raises that threshold to the freed
/// block's size (up to 32 MiB). A training step allocates and frees activations of a few MiB thousands of times, so
/// after the first step they all come from the heap, whose freed space stays resident and fragments: at batch 32 of the
/// CIFAR-10 model with gradient checkpointing, peak RSS 2759 MiB with the default, 2030 MiB with the threshold fixed
/// at 4 MiB. Fixing it (the same as <c>MALLOC_MMAP_THRESHOLD_</c>) keeps blocks from 4 MiB up out of the heap.
/// The price is a fresh mapping, page faults and zeroing for each such block: measured 1.05× the step time (median of
/// A/B pairs on a loaded machine, spread 0.77–1.59), so <see cref="TrainLoop"/> sets it only for networks with
/// gradient checkpointing, where memory is the point.
/// </summary>
public static class NativeHeap
{
    const int MmapThreshold = -3; // M_MMAP_THRESHOLD in malloc.h

    /// <summary>The fixed threshold <see cref="UseFixedMmapThreshold"/> sets by default: 4 MiB.</summary>
    public const int DefaultThresholdBytes = 4 << 20;

    static int applied;

    /// <summary>
    /// Fixes glibc's mmap threshold at <paramref name="bytes"/> for the rest of the process (once; later calls do
    /// nothing), unless <c>MALLOC_MMAP_THRESHOLD_</c> is set, which wins. Does nothing off glibc. Returns whether it
    /// was set by this call.
    /// </summary>
    public static bool UseFixedMmapThreshold(int bytes = DefaultThresholdBytes)
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null) return false;
        if (Interlocked.Exchange(ref applied, 1) == 1) return false;
        return SetMmapThreshold(bytes);
    }

    /// <summary>Sets glibc's mmap threshold now (the benchmarks' A/B switch); false off glibc.</summary>
    internal static bool SetMmapThreshold(int bytes)
    {
        try
        {
            return mallopt(MmapThreshold, bytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (musl has no mallopt): nothing to tune
        }
    }

    /// <summary>
    /// Returns the free pages inside glibc's heaps to the system (<c>malloc_trim(0)</c>), so that memory freed in the
    /// middle of a heap stops counting as resident until it is used again. A few milliseconds for a heap of gigabytes;
    /// the pages reused later are faulted in afresh. Does nothing off glibc.
    /// </summary>
    public static void ReleaseFreeMemory()
    {
        if (!OperatingSystem.IsLinux() || trimUnavailable) return;
        try
        {
            malloc_trim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            trimUnavailable = true; // not glibc
        }
    }

    static bool trimUnavailable;

    [DllImport("libc", EntryPoint = "malloc_trim")]
    static extern int malloc_trim(nuint pad);

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
