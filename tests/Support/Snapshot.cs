using System.Runtime.CompilerServices;

namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// Snapshot files for generated code, named as Verify names them: <c>Snapshots/{Test}#{HintName}.verified.cs</c> beside the
/// test. On a difference the new text is written to <c>.received.cs</c> (git-ignored) and the failure shows the first
/// differing lines. To accept changed output, run the tests with <c>IMPROVED_DDPM_ACCEPT_SNAPSHOTS=1</c>, which
/// overwrites the verified files, then review them with <c>git diff</c>.
/// </summary>
static class Snapshot
{
    public const string AcceptVariable = "IMPROVED_DDPM_ACCEPT_SNAPSHOTS";

    public static void Match(string actual, string name, [CallerMemberName] string test = "", [CallerFilePath] string testFile = "")
    {
        var folder = Path.Combine(Path.GetDirectoryName(testFile)!, "Snapshots");
        var stem = name.EndsWith(".cs", StringComparison.Ordinal) ? name[..^3] : name;
        var verified = Path.Combine(folder, $"{test}#{stem}.verified.cs");
        var received = Path.Combine(folder, $"{test}#{stem}.received.cs");
        actual = actual.ReplaceLineEndings("\n");

        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(verified, actual);
            File.Delete(received);
            return;
        }
        var expected = File.Exists(verified) ? File.ReadAllText(verified).ReplaceLineEndings("\n") : null;
        if (expected == actual)
        {
            File.Delete(received);
            return;
        }
        Directory.CreateDirectory(folder);
        File.WriteAllText(received, actual);
        Assert.Fail(expected is null
            ? $"no snapshot {verified}; the output is in {received}. Run with {AcceptVariable}=1 to accept it."
            : $"generated code differs from {verified}:\n{FirstDifference(expected, actual)}\nThe new output is in {received}; " +
              $"run with {AcceptVariable}=1 to accept it.");
    }

    static string FirstDifference(string expected, string actual)
    {
        var before = expected.Split('\n');
        var after = actual.Split('\n');
        var line = 0;
        while (line < before.Length && line < after.Length && before[line] == after[line]) line++;
        var context = Enumerable.Range(line, 3);
        return $"first difference at line {line + 1}\n" +
            string.Join("\n", context.Where(i => i < before.Length).Select(i => $"- {before[i]}")) + "\n" +
            string.Join("\n", context.Where(i => i < after.Length).Select(i => $"+ {after[i]}"));
    }
}
