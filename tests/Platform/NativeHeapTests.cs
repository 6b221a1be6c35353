using System.Runtime.InteropServices;
using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Platform;

/// <summary>The heap policy plain training runs under (<see cref="NativeHeap.KeepFreedBlocksInHeap"/>) keeps even
/// tens of MiB in glibc's heap, where a freed activation is reused without page faults.</summary>
public sealed class NativeHeapTests
{
    [LinuxFact]
    public void With_blocks_kept_in_the_heap_a_40_MiB_tensor_gets_no_mapping_of_its_own()
    {
        Assert.True(NativeHeap.SetHeapOnly(true));
        // With glibc's defaults a block of 40 MiB (above its 32 MiB ceiling) is always a mapping of its own. Other
        // tests may free mappings meanwhile, but with the policy on, nothing can add one.
        var mappingsBefore = mallinfo2().hblks;
        using var big = ones(10 << 20);
        Assert.True(mallinfo2().hblks <= mappingsBefore, "the tensor was served by a mapping of its own");
    }

    [StructLayout(LayoutKind.Sequential)]
    struct MallocInfo
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc")]
    static extern MallocInfo mallinfo2();
}
