using System.Diagnostics.CodeAnalysis;

namespace ImprovedDdpm;

/// <summary>A run of one process (no launcher): every collective is the identity and nothing of MPI is loaded.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    /// <summary>The one instance: it holds no state.</summary>
    public static readonly SingleProcessCommunicator Instance = new();

    SingleProcessCommunicator()
    {
    }

    public int Rank => 0;

    public int Size => 1;

    public void AllReduceSum<T>(Span<T> values) where T : unmanaged => MpiDatatypes.EnsureSupported<T>();

    public T[] AllGather<T>(ReadOnlySpan<T> mine) where T : unmanaged
    {
        MpiDatatypes.EnsureSupported<T>();
        return mine.ToArray();
    }

    public T[][] AllGatherVariable<T>(ReadOnlySpan<T> mine) where T : unmanaged
    {
        MpiDatatypes.EnsureSupported<T>();
        return [mine.ToArray()];
    }

    public void Broadcast<T>(Span<T> values, int root = 0) where T : unmanaged
    {
        MpiDatatypes.EnsureSupported<T>();
        ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);
    }

    public void Barrier()
    {
    }

    [DoesNotReturn]
    public void Abort(int code, string? reason = null)
    {
        if (reason is not null) Console.Error.WriteLine(reason);
        Environment.Exit(code);
        throw new InvalidOperationException("unreachable: Environment.Exit returned");
    }

    public void Dispose()
    {
    }
}
