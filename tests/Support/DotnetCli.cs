using Xunit.Abstractions;

namespace ImprovedDdpm.Tests.Support;

/// <summary>Runs the dotnet CLI as a child process for tests that build projects of their own.</summary>
static class DotnetCli
{
    /// <summary>A restore and build on a loaded 2-core machine stays well inside this; a hung one fails the test.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(10);

    /// <summary>
    /// <c>dotnet <paramref name="args"/></c> in <paramref name="workingDirectory"/>; fails the test (with the command's
    /// exit code, stderr and stdout) unless it succeeds within <see cref="Deadline"/>. Returns stdout.
    /// </summary>
    public static string Run(ITestOutputHelper output, string workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = ChildProcess.Start("dotnet", args, workingDirectory, variables =>
        {
            // The test host runs under `dotnet test`, whose MSBuild variables would steer the child build.
            foreach (var name in variables.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
                variables.Remove(name);
            variables["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            variables["DOTNET_NOLOGO"] = "1";
            foreach (var (name, value) in environment ?? new Dictionary<string, string>()) variables[name] = value;
        });
        try
        {
            return process.AssertSucceeds(Deadline);
        }
        finally
        {
            output.WriteLine($"$ {process.Description}\n{process.Output}{process.Errors}");
        }
    }

    /// <summary>The repository's root folder (this file is in tests/Support).</summary>
    public static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string file = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));

    /// <summary>
    /// Empty Directory.Build.props/.targets and Directory.Packages.props in <paramref name="folder"/>, so MSBuild's
    /// upward search stops there and a project below it builds as it would on a user's machine.
    /// </summary>
    public static void IsolateFromParentFolders(string folder)
    {
        foreach (var name in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
            File.WriteAllText(Path.Combine(folder, name), "<Project />\n");
    }
}
