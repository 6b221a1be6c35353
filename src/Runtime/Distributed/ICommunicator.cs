using System.Diagnostics.CodeAnalysis;

namespace ImprovedDdpm;

/// <summary>
/// The processes of one run and the collective operations between them, as training, sampling and evaluation need
/// them: <see cref="SingleProcessCommunicator"/> for a plain run, <see cref="MpiCommunicator"/> under
/// <c>mpiexec -n K</c>. <see cref="Communicators.FromEnvironment"/> picks one.
/// </summary>
/// <remarks>
/// Every operation is collective: all ranks call it, in the same order, with the same lengths (a rank that skips one
/// leaves the others waiting). Element types are <see cref="byte"/>, <see cref="int"/>, <see cref="long"/>,
/// <see cref="float"/> and <see cref="double"/>; others throw <see cref="NotSupportedException"/>.
/// </remarks>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's index, 0 … <see cref="Size"/> − 1.</summary>
    int Rank { get; }

    /// <summary>The number of processes.</summary>
    int Size { get; }

    /// <summary>True on rank 0, the one that writes files and prints progress.</summary>
    bool IsRoot => Rank == 0;

    /// <summary>Replaces <paramref name="values"/>, on every rank, by their element-wise sum over all ranks.</summary>
    void AllReduceSum<T>(Span<T> values) where T : unmanaged;

    /// <summary>
    /// Every rank's <paramref name="mine"/>, concatenated in rank order (rank r's at [r·n, (r+1)·n)). All ranks must
    /// pass the same length n; a mismatch throws on every rank, naming the lengths.
    /// </summary>
    T[] AllGather<T>(ReadOnlySpan<T> mine) where T : unmanaged;

    /// <summary>Every rank's <paramref name="mine"/>, of any length, indexed by rank.</summary>
    T[][] AllGatherVariable<T>(ReadOnlySpan<T> mine) where T : unmanaged;

    /// <summary>Overwrites <paramref name="values"/> on every rank with rank <paramref name="root"/>'s (same length on all).</summary>
    void Broadcast<T>(Span<T> values, int root = 0) where T : unmanaged;

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// Ends every process of the run with exit code <paramref name="code"/>, after writing <paramref name="reason"/>
    /// (with this rank's number) to stderr. For a failure on one rank: the others may be waiting in a collective and
    /// would otherwise wait forever.
    /// </summary>
    [DoesNotReturn]
    void Abort(int code, string? reason = null);
}
