using System.Runtime.InteropServices;
using System.Text;

namespace ImprovedDdpm;

/// <summary>
/// The few entry points of Open MPI's <c>libmpi</c> the communicator needs, bound at run time. The library is loaded
/// with <see cref="NativeLibrary"/> only when a process runs under an MPI launcher, so a single-process run never
/// needs MPI installed (a <c>DllImport</c> would be resolved by name on first call and could not say what it looked for).
/// </summary>
/// <remarks>
/// Open MPI's handles (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>, <c>MPI_SUM</c>, …) are the addresses of exported data
/// objects (<c>ompi_mpi_comm_world</c>, …), so they are read with <see cref="NativeLibrary.GetExport"/>. MPICH and its
/// derivatives (Intel MPI, MVAPICH, Cray MPICH) define them as integer constants of another ABI: such a library is
/// recognised and refused by name rather than called with handles it would misread.
/// </remarks>
internal sealed unsafe class OpenMpiLibrary
{
    /// <summary>A path or file name of the MPI library to load instead of the default search.</summary>
    public const string LibraryVariable = "IMPROVED_DDPM_MPI_LIBRARY";

    /// <summary>Open MPI 4.x and 5.x keep this soname; the others are tried only to name what was found instead.</summary>
    static readonly string[] DefaultCandidates = ["libmpi.so.40", "libmpi.so", "libmpich.so.12", "libmpich.so"];

    public const int Success = 0;
    public const int ThreadSerialized = 2;

    /// <summary>Open MPI's MPI_IN_PLACE is <c>(void*)1</c> (mpi.h: <c>#define MPI_IN_PLACE ((void *) 1)</c>).</summary>
    public static readonly void* InPlace = (void*)1;

    public readonly string Path;
    public readonly nint CommWorld, ErrorsReturn, OpSum;
    public readonly nint Byte, Int32, Int64, Float, Double;

    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<nint, int*, int> CommRank, CommSize;
    public readonly delegate* unmanaged<nint, nint, int> CommSetErrhandler;
    public readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> Allreduce;
    public readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> Allgather;
    public readonly delegate* unmanaged<void*, int, nint, void*, int*, int*, nint, nint, int> Allgatherv;
    public readonly delegate* unmanaged<void*, int, nint, int, nint, int> Bcast;
    public readonly delegate* unmanaged<nint, int> Barrier;
    public readonly delegate* unmanaged<nint, int, int> Abort;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;
    public readonly delegate* unmanaged<byte*, int*, int> GetLibraryVersion;

    OpenMpiLibrary(string path, nint handle)
    {
        Path = path;
        nint Function(string name) => NativeLibrary.TryGetExport(handle, name, out var address) ? address
            : throw new MpiLibraryException($"{path} does not export {name}: it is not a usable MPI library.");

        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Function("MPI_Init_thread");
        GetLibraryVersion = (delegate* unmanaged<byte*, int*, int>)Function("MPI_Get_library_version");
        if (!NativeLibrary.TryGetExport(handle, "ompi_mpi_comm_world", out CommWorld))
            throw new MpiLibraryException(
                $"{path} is not Open MPI ({VersionOf(GetLibraryVersion)}). ImprovedDdpm binds Open MPI's ABI, whose handles " +
                "are exported objects; MPICH and its derivatives (Intel MPI, MVAPICH, Cray MPICH) use integer handles of " +
                $"another ABI. Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin), launch with its mpiexec, or set " +
                $"{LibraryVariable} to Open MPI's libmpi.so.40.");

        nint Data(string name) => NativeLibrary.TryGetExport(handle, name, out var address) ? address
            : throw new MpiLibraryException($"{path} does not export {name}, which every Open MPI 4 and 5 exports.");
        ErrorsReturn = Data("ompi_mpi_errors_return");
        OpSum = Data("ompi_mpi_op_sum");
        Byte = Data("ompi_mpi_byte");
        Int32 = Data("ompi_mpi_int32_t");
        Int64 = Data("ompi_mpi_int64_t");
        Float = Data("ompi_mpi_float");
        Double = Data("ompi_mpi_double");

        Initialized = (delegate* unmanaged<int*, int>)Function("MPI_Initialized");
        Finalize = (delegate* unmanaged<int>)Function("MPI_Finalize");
        CommRank = (delegate* unmanaged<nint, int*, int>)Function("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)Function("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)Function("MPI_Comm_set_errhandler");
        Allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Function("MPI_Allreduce");
        Allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)Function("MPI_Allgather");
        Allgatherv = (delegate* unmanaged<void*, int, nint, void*, int*, int*, nint, nint, int>)Function("MPI_Allgatherv");
        Bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Function("MPI_Bcast");
        Barrier = (delegate* unmanaged<nint, int>)Function("MPI_Barrier");
        Abort = (delegate* unmanaged<nint, int, int>)Function("MPI_Abort");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Function("MPI_Error_string");
    }

    /// <summary>
    /// Loads the MPI library (<see cref="LibraryVariable"/> if set, else Open MPI's soname) or throws an
    /// <see cref="MpiLibraryException"/> naming every name tried and why each failed.
    /// </summary>
    public static OpenMpiLibrary Load()
    {
        if (!OperatingSystem.IsLinux())
            throw new MpiLibraryException(
                "MPI is supported on Linux only (Open MPI's libmpi.so.40); Windows' MS-MPI has another ABI.");
        var chosen = Environment.GetEnvironmentVariable(LibraryVariable);
        string[] candidates = string.IsNullOrEmpty(chosen) ? DefaultCandidates : [chosen];
        var failures = new List<string>();
        foreach (var name in candidates)
        {
            // The error of the first candidate is the informative one (e.g. a missing dependency of libmpi.so.40).
            if (TryLoad(name, out var handle, out var error)) return new OpenMpiLibrary(name, handle);
            failures.Add($"{name} ({error})");
        }
        var source = string.IsNullOrEmpty(chosen) ? "" : $" (from {LibraryVariable})";
        throw new MpiLibraryException(
            $"No MPI library could be loaded{source}; looked for {string.Join(", ", failures)}. Install Open MPI " +
            $"(Debian/Ubuntu: apt-get install openmpi-bin, which brings libmpi.so.40) or set {LibraryVariable} to the path of " +
            "Open MPI's libmpi.so.40.");
    }

    static bool TryLoad(string name, out nint handle, out string error)
    {
        try
        {
            handle = NativeLibrary.Load(name);
            error = "";
            return true;
        }
        catch (DllNotFoundException e)
        {
            handle = 0;
            // .NET's first line is generic advice; dlerror's reasons (one per path probed) follow it.
            var reasons = e.Message.Split('\n').Skip(1).Select(line => line.Trim()).Where(line => line.Length > 0).Distinct().ToList();
            error = reasons.Count > 0 ? string.Join("; ", reasons) : FirstLine(e.Message);
            return false;
        }
    }

    static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>The library's own version text (MPI_Get_library_version works before MPI_Init).</summary>
    public string Version => VersionOf(GetLibraryVersion);

    static string VersionOf(delegate* unmanaged<byte*, int*, int> getLibraryVersion)
    {
        // MPI_MAX_LIBRARY_VERSION_STRING: 256 in Open MPI, 8192 in MPICH.
        var buffer = stackalloc byte[8192];
        var length = 0;
        if (getLibraryVersion(buffer, &length) != Success) return "version unknown";
        return FirstLine(Encoding.UTF8.GetString(buffer, Math.Clamp(length, 0, 8192)).TrimEnd('\0'));
    }

    /// <summary>The handle of <typeparamref name="T"/>'s MPI datatype.</summary>
    public nint Datatype<T>() where T : unmanaged => MpiDatatypes.EnsureSupported<T>() switch
    {
        TypeCode.Byte => Byte,
        TypeCode.Int32 => Int32,
        TypeCode.Int64 => Int64,
        TypeCode.Single => Float,
        _ => Double,
    };

    /// <summary>MPI_Error_string of <paramref name="code"/>, or the bare code if the library cannot say.</summary>
    public string Describe(int code)
    {
        // MPI_MAX_ERROR_STRING is 256 in Open MPI.
        var buffer = stackalloc byte[1024];
        var length = 0;
        if (ErrorString(code, buffer, &length) != Success) return $"MPI error {code}";
        return $"{Encoding.UTF8.GetString(buffer, Math.Clamp(length, 0, 1024)).TrimEnd('\0')} (error {code})";
    }
}
