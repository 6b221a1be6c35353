using System.Diagnostics;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static ImprovedDdpm.Tests.Support.MpiRun;

namespace ImprovedDdpm.Tests.Distributed;

/// <summary>
/// Which communicator a process gets, and that a process outside an MPI job never loads an MPI library: the probe is
/// run as a plain process (no mpiexec needed), reporting its choice and the libraries mapped into it afterwards.
/// </summary>
public sealed class CommunicatorSelectionTests(ITestOutputHelper output) : IDisposable
{
    static readonly string[] LauncherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"];

    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-mpi-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [LinuxFact]
    public void Without_a_launcher_a_process_is_single_and_never_maps_libmpi()
    {
        var text = Environment(variables => { });
        Assert.Contains("communicator: SingleProcessCommunicator rank 0 size 1", text);
        Assert.Contains("libmpi mapped: none", text);
    }

    [LinuxFact]
    public void Under_a_launcher_an_mpi_library_that_does_not_load_is_named_with_the_launcher_seen()
    {
        var missing = Path.Combine(folder, "libmpi.so.40");
        var text = Environment(variables =>
        {
            variables["OMPI_COMM_WORLD_SIZE"] = "2";
            variables["IMPROVED_DDPM_MPI_LIBRARY"] = missing;
        });
        Assert.Contains(
            $"error: This process runs under an MPI launcher (OMPI_COMM_WORLD_SIZE=2). No MPI library could be loaded (from IMPROVED_DDPM_MPI_LIBRARY); looked for {missing} ({missing}: cannot open shared object file: No such file or directory). ",
            text);
        Assert.Contains("Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin", text);
        Assert.Contains("libmpi mapped: none", text);
    }

    [LinuxFact]
    public void A_library_that_is_not_mpi_is_refused_by_name()
    {
        // PMIx launchers (srun --mpi=pmix) set PMIX_RANK without Open MPI's variables.
        var text = Environment(variables =>
        {
            variables["PMIX_RANK"] = "0";
            variables["IMPROVED_DDPM_MPI_LIBRARY"] = "libc.so.6";
        });
        Assert.Contains("error: This process runs under an MPI launcher (PMIX_RANK=0). libc.so.6 does not export MPI_Init_thread: it is not a usable MPI library.", text);
    }

    [FactNeedingFile("/usr/bin/cc")]
    public void An_mpich_library_is_refused_with_its_version_and_the_reason()
    {
        // A stand-in with MPICH's entry points and integer handles (no ompi_* objects), as libmpich.so.12 has.
        var source = Path.Combine(folder, "fake_mpich.c");
        var library = Path.Combine(folder, "libmpich.so.12");
        File.WriteAllText(source, """
            #include <string.h>
            int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) { *provided = required; return 0; }
            int MPI_Get_library_version(char *version, int *length) {
                strcpy(version, "MPICH Version:\t4.0.2\nMPICH Release date: Thu Apr  7 12:34:45 CDT 2022\n");
                *length = (int)strlen(version);
                return 0;
            }
            """);
        using (var compiler = ChildProcess.Start("/usr/bin/cc", ["-shared", "-fPIC", "-o", library, source]))
            compiler.AssertSucceeds(TimeSpan.FromMinutes(1));

        var text = Environment(variables =>
        {
            variables["PMI_RANK"] = "0";
            variables["IMPROVED_DDPM_MPI_LIBRARY"] = library;
        });
        Assert.Contains($"error: This process runs under an MPI launcher (PMI_RANK=0). {library} is not Open MPI (MPICH Version:\t4.0.2). ImprovedDdpm binds Open MPI's ABI", text);
        Assert.Contains("MPICH and its derivatives (Intel MPI, MVAPICH, Cray MPICH) use integer handles", text);
    }

    [MpiFact]
    public void A_launcher_of_another_mpi_is_detected_instead_of_running_K_separate_singletons()
    {
        // MPICH's mpiexec (hydra) sets PMI_RANK and PMI_SIZE; Open MPI's library then starts as a singleton, rank 0 of 1.
        var text = Environment(variables =>
        {
            variables["PMI_RANK"] = "0";
            variables["PMI_SIZE"] = "2";
            variables["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
            variables["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        });
        Assert.Contains("error: The launcher started 2 processes (PMI_RANK=0), but libmpi.so.40 (Open MPI v", text);
        Assert.Contains("sees 1: the library does not belong to the launcher. Launch with the mpiexec of the same MPI installation.", text);
    }

    /// <summary>The probe's report of <see cref="Communicators.FromEnvironment"/> with no launcher variable but those set by <paramref name="edit"/>.</summary>
    string Environment(Action<IDictionary<string, string?>> edit)
    {
        using var probe = StartAlone(variables =>
        {
            foreach (var name in LauncherVariables.Concat(["PMI_SIZE", "IMPROVED_DDPM_MPI_LIBRARY"])) variables.Remove(name);
            edit(variables);
        }, "environment");
        var text = probe.AssertSucceeds(Deadline);
        output.WriteLine(text);
        return text;
    }

    [Fact]
    public void This_test_process_is_not_under_a_launcher()
    {
        // The in-process facts below hold only outside an MPI job (CI runs dotnet test directly).
        Assert.All(LauncherVariables, name => Assert.Null(System.Environment.GetEnvironmentVariable(name)));
        Assert.Null(Communicators.LauncherVariable);
        Assert.Same(SingleProcessCommunicator.Instance, Communicators.FromEnvironment());
        Assert.DoesNotContain(Process.GetCurrentProcess().Modules.Cast<ProcessModule>(), module => module.ModuleName.StartsWith("libmpi", StringComparison.Ordinal));
    }
}
