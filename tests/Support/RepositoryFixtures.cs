namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// Fixtures kept in the repository under <c>tests/Fixtures</c> (as opposed to the reference fixtures in ../shared),
/// found from the test binaries upwards, so in the checkout the tests were built from.
/// </summary>
static class RepositoryFixtures
{
    static readonly Lazy<string> Root = new(Locate);

    /// <summary>The root of the checkout the tests were built from.</summary>
    public static string RepositoryRoot => Path.GetFullPath(Path.Combine(Root.Value, "..", ".."));

    /// <summary>tests/Fixtures/<paramref name="folder"/>/<paramref name="file"/>.</summary>
    public static string PathOf(string folder, string file)
    {
        var path = Path.Combine(Root.Value, folder, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"Fixture tests/Fixtures/{folder}/{file} not found in {Root.Value}.", path);
    }

    static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Fixtures");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"No tests/Fixtures above {AppContext.BaseDirectory}.");
    }
}
