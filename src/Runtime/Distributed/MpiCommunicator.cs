using System.Diagnostics.CodeAnalysis;

namespace ImprovedDdpm;

/// <summary>
/// <c>MPI_COMM_WORLD</c> of Open MPI, for a run started by <c>mpiexec -n K</c>. Made once per process by
/// <see cref="Communicators.FromEnvironment"/> (MPI can be initialised once only).
/// </summary>
/// <remarks>
/// Errors of MPI calls come back as <see cref="MpiException"/> (the world communicator is set to
/// <c>MPI_ERRORS_RETURN</c>; Open MPI's default would abort the job with a message of its own). Calls are serialised
/// by a lock, so any thread may make them (<c>MPI_THREAD_SERIALIZED</c>). <see cref="Dispose"/> calls
/// <c>MPI_Finalize</c>, which waits for every rank: call it when the run succeeded, and <see cref="Abort"/> when it
/// failed (<see cref="Communicators.Run"/> does both).
/// </remarks>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    readonly OpenMpiLibrary mpi;
    readonly Lock gate = new();
    bool finalized;

    MpiCommunicator(OpenMpiLibrary mpi)
    {
        this.mpi = mpi;
        int initialized = 0, provided = 0;
        Check(mpi.Initialized(&initialized), "MPI_Initialized");
        if (initialized != 0)
            throw new InvalidOperationException("MPI is already initialised in this process; use Communicators.FromEnvironment() once.");
        var code = mpi.InitThread(null, null, OpenMpiLibrary.ThreadSerialized, &provided);
        if (code != OpenMpiLibrary.Success) throw new MpiException("MPI_Init_thread", code, mpi.Describe(code));
        if (provided < OpenMpiLibrary.ThreadSerialized)
            throw new MpiLibraryException($"{mpi.Path} gives thread level {provided}; MPI_THREAD_SERIALIZED (2) is needed because .NET may continue work on any thread.");
        Check(mpi.CommSetErrhandler(mpi.CommWorld, mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
        int rank = 0, size = 0;
        Check(mpi.CommRank(mpi.CommWorld, &rank), "MPI_Comm_rank");
        Check(mpi.CommSize(mpi.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    /// <summary>Loads Open MPI and initialises it (see <see cref="OpenMpiLibrary.Load"/> for the library search).</summary>
    internal static MpiCommunicator Initialize() => new(OpenMpiLibrary.Load());

    public int Rank { get; }

    public int Size { get; }

    /// <summary>The library loaded (a file name or path, as found).</summary>
    public string LibraryPath => mpi.Path;

    /// <summary>The library's version text, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, …".</summary>
    public string LibraryVersion => mpi.Version;

    public void AllReduceSum<T>(Span<T> values) where T : unmanaged
    {
        var type = mpi.Datatype<T>();
        // Equal lengths on every rank are the caller's contract (checking would cost a collective per call).
        if (values.IsEmpty) return;
        lock (gate)
        {
            EnsureOpen();
            fixed (T* data = values)
                Check(mpi.Allreduce(OpenMpiLibrary.InPlace, data, values.Length, type, mpi.OpSum, mpi.CommWorld), "MPI_Allreduce");
        }
    }

    public T[] AllGather<T>(ReadOnlySpan<T> mine) where T : unmanaged
    {
        var (result, counts) = Gather(mine);
        var length = mine.Length;
        if (counts.Any(count => count != length))
            throw new InvalidOperationException(
                $"AllGather needs the same length on every rank; got {string.Join(", ", counts.Select((count, rank) => $"rank {rank}: {count}"))}.");
        return result;
    }

    public T[][] AllGatherVariable<T>(ReadOnlySpan<T> mine) where T : unmanaged
    {
        var (all, counts) = Gather(mine);
        var parts = new T[Size][];
        var offset = 0;
        for (var rank = 0; rank < Size; rank++)
        {
            parts[rank] = all.AsSpan(offset, counts[rank]).ToArray();
            offset += counts[rank];
        }
        return parts;
    }

    /// <summary>Every rank's values in rank order, and each rank's count (exchanged first, so lengths may differ).</summary>
    (T[] All, int[] Counts) Gather<T>(ReadOnlySpan<T> mine) where T : unmanaged
    {
        var type = mpi.Datatype<T>();
        lock (gate)
        {
            EnsureOpen();
            var counts = new int[Size];
            var length = mine.Length;
            fixed (int* countData = counts)
                Check(mpi.Allgather(&length, 1, mpi.Int32, countData, 1, mpi.Int32, mpi.CommWorld), "MPI_Allgather");
            var total = counts.Sum(count => (long)count);
            if (total > Array.MaxLength)
                throw new InvalidOperationException($"AllGather of {total} elements in all exceeds one array's {Array.MaxLength}.");
            var displacements = new int[Size];
            for (var rank = 1; rank < Size; rank++) displacements[rank] = displacements[rank - 1] + counts[rank - 1];
            var all = new T[total];
            fixed (T* send = mine)
            fixed (T* receive = all)
            fixed (int* countData = counts)
            fixed (int* displacementData = displacements)
            {
                // A pointer is needed even for zero elements: some MPI builds reject NULL buffers.
                T dummy = default;
                var sendBuffer = send is null ? &dummy : send;
                var receiveBuffer = receive is null ? &dummy : receive;
                Check(mpi.Allgatherv(sendBuffer, length, type, receiveBuffer, countData, displacementData, type, mpi.CommWorld), "MPI_Allgatherv");
            }
            return (all, counts);
        }
    }

    public void Broadcast<T>(Span<T> values, int root = 0) where T : unmanaged
    {
        var type = mpi.Datatype<T>();
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, Size);
        if (values.IsEmpty) return;
        lock (gate)
        {
            EnsureOpen();
            fixed (T* data = values)
                Check(mpi.Bcast(data, values.Length, type, root, mpi.CommWorld), "MPI_Bcast");
        }
    }

    public void Barrier()
    {
        lock (gate)
        {
            EnsureOpen();
            Check(mpi.Barrier(mpi.CommWorld), "MPI_Barrier");
        }
    }

    [DoesNotReturn]
    public void Abort(int code, string? reason = null)
    {
        Console.Out.Flush();
        // The rank and the code first: a reason may be a many-line stack trace.
        Console.Error.WriteLine($"rank {Rank} of {Size} ends the job (exit code {code}){(reason is null ? "." : $": {reason}")}");
        Console.Error.Flush();
        // Without the lock: another thread may be blocked in a collective that only this abort can end.
        if (!Volatile.Read(ref finalized)) mpi.Abort(mpi.CommWorld, code);
        Environment.Exit(code);
        throw new InvalidOperationException("unreachable: Environment.Exit returned");
    }

    /// <summary>
    /// <c>MPI_Finalize</c>, once. It waits for every rank, so call it only when all of them finish normally; on
    /// failure, call <see cref="Abort"/> instead.
    /// </summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (finalized) return;
            Volatile.Write(ref finalized, true);
            Check(mpi.Finalize(), "MPI_Finalize");
        }
    }

    void EnsureOpen() => ObjectDisposedException.ThrowIf(finalized, this);

    void Check(int code, string call)
    {
        if (code != OpenMpiLibrary.Success) throw new MpiException(call, code, mpi.Describe(code));
    }
}
