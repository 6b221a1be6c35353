using System.Text.Json;

namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// The reference fixtures in <c>../shared/fixtures/reference</c> (numbers produced by openai/improved-diffusion
/// itself) and the tolerance its manifest gives for each file. Read at test time, never copied into code.
/// </summary>
public static class ReferenceFixtures
{
    static readonly Lazy<string> Folder = new(Locate);
    static readonly Lazy<JsonElement> Manifest = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder.Value, "manifest.json"))).RootElement.GetProperty("files"));

    /// <summary>The fixture folder: $IMPROVED_DDPM_FIXTURES, or shared/fixtures/reference beside an ancestor of the test binaries.</summary>
    public static string Directory => Folder.Value;

    public static string PathOf(string file) => Path.Combine(Folder.Value, file);

    /// <summary>Every file the manifest describes.</summary>
    public static IEnumerable<string> ManifestFiles() => Manifest.Value.EnumerateObject().Select(p => p.Name);

    /// <summary>The manifest's tolerance for <paramref name="file"/>; a missing <c>abs</c> means 0.</summary>
    public static Tolerance ToleranceOf(string file)
    {
        var entry = Manifest.Value.GetProperty(file);
        if (!entry.TryGetProperty("tolerance", out var tolerance))
            throw new InvalidOperationException($"manifest.json gives no tolerance for {file}.");
        var rel = tolerance.TryGetProperty("rel", out var r) ? r.GetDouble() : 0.0;
        var abs = tolerance.TryGetProperty("abs", out var a) ? a.GetDouble() : 0.0;
        return new Tolerance(file, rel, abs);
    }

    /// <summary>All tensors of a safetensors fixture.</summary>
    public static IReadOnlyDictionary<string, FixtureTensor> Tensors(string file) => SafetensorsReader.Read(PathOf(file));

    public static JsonElement Json(string file) => JsonDocument.Parse(File.ReadAllText(PathOf(file))).RootElement;

    static string Locate()
    {
        var overridden = Environment.GetEnvironmentVariable("IMPROVED_DDPM_FIXTURES");
        if (!string.IsNullOrEmpty(overridden)) return overridden;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "fixtures", "reference");
            if (File.Exists(Path.Combine(candidate, "manifest.json"))) return candidate;
        }
        throw new DirectoryNotFoundException(
            $"Reference fixtures not found: no shared/fixtures/reference/manifest.json beside any ancestor of {AppContext.BaseDirectory}. Set IMPROVED_DDPM_FIXTURES.");
    }
}
