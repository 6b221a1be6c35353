using System.Reflection;
using System.Text.RegularExpressions;

namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// Runs tests/MpiProbe (built with the tests) under Open MPI's <c>mpiexec</c>, or directly, and reads its
/// <c>rank R: name = values</c> lines back.
/// </summary>
static partial class MpiRun
{
    /// <summary>mpiexec's start-up is about a second; two .NET processes on a loaded 2-core machine take a few more.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    public const string Missing = "mpiexec is not on PATH (Debian/Ubuntu: apt-get install openmpi-bin; .ci/run installs it)";

    /// <summary>mpiexec's full path, or null where Open MPI is not installed.</summary>
    public static readonly string? Mpiexec = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(folder => Path.Combine(folder, "mpiexec")).FirstOrDefault(File.Exists);

    public static string Probe => typeof(MpiRun).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "MpiProbe").Value!;

    /// <summary>
    /// <c>mpiexec -n <paramref name="ranks"/> dotnet MpiProbe.dll <paramref name="arguments"/></c>, with the settings a
    /// container needs: allowed as root, more ranks than cores allowed, no core binding (the cores are shared), shared
    /// memory without cross-process reads (CMA needs ptrace rights containers usually lack), waiting ranks that yield.
    /// </summary>
    public static ChildProcess Start(int ranks, params string[] arguments) => Start(ranks, null, arguments);

    /// <summary>As <see cref="Start(int, string[])"/>, with <paramref name="environment"/> edits after the settings
    /// (mpiexec reads <c>OMPI_MCA_*</c> variables as its <c>--mca</c> options).</summary>
    public static ChildProcess Start(int ranks, Action<IDictionary<string, string?>>? environment, params string[] arguments) =>
        ChildProcess.Start(Mpiexec!, ["-n", $"{ranks}", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "dotnet", Probe, .. arguments],
            environment: variables =>
            {
                variables["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
                variables["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
                variables["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none";
                // A waiting rank yields its core instead of polling at full speed: the cores are shared with the suite.
                variables["OMPI_MCA_mpi_yield_when_idle"] = "1";
                // mpiexec gives each rank a pseudo-terminal; with a terminal type .NET would print its keypad escapes.
                variables["TERM"] = "dumb";
                // One libtorch thread per rank: two ranks of two threads each on the suite's 2 cores spin against each
                // other (20 tiny steps took 47 s instead of 5 s).
                variables["OMP_NUM_THREADS"] = "1";
                environment?.Invoke(variables);
            });

    /// <summary>The probe as a plain process (no launcher), with <paramref name="environment"/> edits.</summary>
    public static ChildProcess StartAlone(Action<IDictionary<string, string?>> environment, params string[] arguments) =>
        ChildProcess.Start("dotnet", [Probe, .. arguments], environment: environment);

    /// <summary>The probe's results: by rank, by name, the text after the name.</summary>
    public static Dictionary<int, Dictionary<string, string>> Results(string output)
    {
        var results = new Dictionary<int, Dictionary<string, string>>();
        foreach (var line in output.Split('\n'))
        {
            if (ResultLine().Match(line) is not { Success: true } match) continue;
            var rank = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (!results.TryGetValue(rank, out var byName)) results[rank] = byName = [];
            byName[match.Groups[2].Value] = match.Groups[3].Value.TrimEnd('\r');
        }
        return results;
    }

    /// <summary>Comma-separated numbers of a result, as doubles.</summary>
    public static double[] Numbers(string text) =>
        [.. text.Split(',').Select(item => double.Parse(item, System.Globalization.CultureInfo.InvariantCulture))];

    // Not anchored at the start: a rank's line may follow another's unfinished output.
    [GeneratedRegex(@"rank (\d+): (.+?) = (.*)$")]
    private static partial Regex ResultLine();
}
