namespace ImprovedDdpm;

/// <summary>Chooses the communicator of this process: MPI under an MPI launcher, a single process otherwise.</summary>
public static class Communicators
{
    /// <summary>
    /// Variables a launcher sets in each process it starts: Open MPI's mpiexec (<c>OMPI_COMM_WORLD_SIZE</c>), PMIx
    /// launchers such as Slurm's <c>srun --mpi=pmix</c> (<c>PMIX_RANK</c>) and PMI-1/2 launchers (<c>PMI_RANK</c>).
    /// </summary>
    static readonly string[] LauncherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"];

    static readonly Lock Gate = new();
    static ICommunicator? current;

    /// <summary>The launcher variable that marks this process as one of an MPI job (as <c>NAME=value</c>), or null.</summary>
    public static string? LauncherVariable =>
        LauncherVariables.Select(name => (name, value: Environment.GetEnvironmentVariable(name)))
            .Where(v => !string.IsNullOrEmpty(v.value)).Select(v => $"{v.name}={v.value}").FirstOrDefault();

    /// <summary>
    /// This process's index among the job's processes on the same machine (0 outside a job): the GPU a rank takes,
    /// as the reference's <c>dist_util</c> picks one per local rank. From Open MPI's, MPICH's or Slurm's variable.
    /// </summary>
    public static int LocalRank =>
        new[] { "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID" }.Select(Environment.GetEnvironmentVariable)
            .Select(value => int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var rank) ? rank : (int?)null)
            .FirstOrDefault(rank => rank is not null) ?? 0;

    /// <summary>
    /// <see cref="MpiCommunicator"/> when an MPI launcher started this process, else the single-process communicator,
    /// without loading any MPI library. The same instance on every call (MPI is initialised once per process).
    /// </summary>
    /// <exception cref="MpiLibraryException">Under a launcher, when no usable Open MPI library loads (the message names
    /// the launcher variable seen and every library looked for).</exception>
    public static ICommunicator FromEnvironment()
    {
        lock (Gate)
        {
            if (current is not null) return current;
            if (LauncherVariable is not { } launcher) return current = SingleProcessCommunicator.Instance;
            MpiCommunicator mpi;
            try
            {
                mpi = MpiCommunicator.Initialize();
            }
            catch (MpiLibraryException e)
            {
                throw new MpiLibraryException($"This process runs under an MPI launcher ({launcher}). {e.Message}");
            }
            // An MPI library of another implementation than the launcher's starts every process as a singleton (rank 0
            // of 1): K independent runs that would each write the same files. The launcher says how many there are.
            if (ExpectedSize() is { } expected && expected != mpi.Size)
                throw new MpiLibraryException(
                    $"The launcher started {expected} processes ({launcher}), but {mpi.LibraryPath} ({mpi.LibraryVersion}) sees " +
                    $"{mpi.Size}: the library does not belong to the launcher. Launch with the mpiexec of the same MPI installation.");
            // A crash on any thread must end every rank; the others would otherwise wait in their next collective.
            AppDomain.CurrentDomain.UnhandledException += (_, e) => mpi.Abort(1, $"unhandled exception on a thread: {e.ExceptionObject}");
            return current = mpi;
        }
    }

    /// <summary>The number of processes the launcher started, where it says (Open MPI's and PMI's variables).</summary>
    static int? ExpectedSize() =>
        new[] { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE" }.Select(Environment.GetEnvironmentVariable)
            .Select(value => int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var size) ? size : (int?)null)
            .FirstOrDefault(size => size is not null);

    /// <summary>
    /// Runs <paramref name="body"/> with this process's communicator and ends MPI as a failure requires: when every rank
    /// returns 0, finalises and returns 0; when a rank throws or returns another code, aborts the whole job with that
    /// rank's message (the other ranks may be waiting for it in a collective). In a single process it is just
    /// <c>body(communicator)</c>.
    /// </summary>
    public static int Run(Func<ICommunicator, int> body)
    {
        var communicator = FromEnvironment();
        if (communicator is SingleProcessCommunicator) return body(communicator);
        int code;
        try
        {
            code = body(communicator);
        }
        catch (Exception e)
        {
            communicator.Abort(1, $"{e}");
            throw; // not reached: Abort ends the process
        }
        if (code != 0) communicator.Abort(code, $"returned {code}");
        communicator.Dispose();
        return 0;
    }
}
