using System.Runtime.InteropServices;

namespace ImprovedDdpm;

/// <summary>
/// How glibc's allocator treats libtorch's large tensors. By default glibc serves a block of more than 128 KiB with its
/// own mapping, returned to the system when freed, but after every such free it raises that threshold to the freed
/// block's size (up to 32 MiB), and it trims the heap's top once more than twice that is free there. A training step
/// allocates and frees activations of a few MiB to tens of MiB thousands of times, so with the default some come from
/// the heap, whose freed space stays resident and fragments, and some are fresh mappings the kernel faults in and zeroes
/// page by page. A run picks one of two fixed policies instead (the first call wins; <c>MALLOC_*</c> variables win
/// over both):
/// <list type="bullet">
/// <item><see cref="KeepFreedBlocksInHeap"/> for speed: every block from the heap, the heap never trimmed. The CIFAR-10
/// model at batch 32, 3 steps: 10.1–13.3 s per step against 12.1–14.4 s with the default (1.16–1.2 M minor faults in
/// the process against 2.9–3.2 M), peak RSS 4549–4762 MB against 4494–4816 MB.</item>
/// <item><see cref="UseFixedMmapThreshold"/> for memory (gradient checkpointing): blocks from 4 MiB up get mappings of
/// their own, so freed activations leave RSS at once: at batch 32 with checkpointing peak RSS 2030 MiB instead of
/// 2759 MiB, at 1.05× the step time; keeping blocks in the heap there costs 2668 MB at 0.68× the time.</item>
/// </list>
/// </summary>
public static class NativeHeap
{
    // mallopt parameters from malloc.h.
    const int TrimThreshold = -1;
    const int MmapThreshold = -3;
    const int MmapMax = -4;

    /// <summary>The fixed threshold <see cref="UseFixedMmapThreshold"/> sets by default: 4 MiB.</summary>
    public const int DefaultThresholdBytes = 4 << 20;

    static int chosen;

    /// <summary>
    /// Fixes glibc's mmap threshold at <paramref name="bytes"/> for the rest of the process, unless the process already
    /// has a policy (<see cref="NativeHeap"/>). Does nothing off glibc. Returns whether it was set by this call.
    /// </summary>
    public static bool UseFixedMmapThreshold(int bytes = DefaultThresholdBytes) =>
        ChoosePolicy() && SetMmapThreshold(bytes);

    /// <summary>
    /// Serves every block from glibc's heap and never trims it, so that freed activations are reused by the next ones
    /// without page faults, for the rest of the process, unless the process already has a policy
    /// (<see cref="NativeHeap"/>). Does nothing off glibc. Returns whether it was set by this call.
    /// </summary>
    public static bool KeepFreedBlocksInHeap() => ChoosePolicy() && SetHeapOnly(true);

    /// <summary>True once per process, and only on Linux without a <c>MALLOC_*</c> setting of the user's.</summary>
    static bool ChoosePolicy()
    {
        if (!OperatingSystem.IsLinux()) return false;
        string[] userSettings = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"];
        if (userSettings.Any(name => Environment.GetEnvironmentVariable(name) is not null)) return false;
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains("glibc.malloc.", StringComparison.Ordinal) == true) return false;
        return Interlocked.Exchange(ref chosen, 1) == 0;
    }

    /// <summary>Heap only, never trimmed (true), or where glibc's dynamic thresholds end up in a training run (false:
    /// own mappings from 32 MiB, trimming past 64 MiB); the benchmarks' A/B switch. False off glibc.</summary>
    internal static bool SetHeapOnly(bool on)
    {
        try
        {
            return mallopt(MmapMax, on ? 0 : 65536) == 1
                && mallopt(TrimThreshold, on ? int.MaxValue : 64 << 20) == 1
                && mallopt(MmapThreshold, 32 << 20) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (musl has no mallopt): nothing to tune
        }
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
