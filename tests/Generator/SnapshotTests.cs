using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>
/// The generated source for the examples' models and a tiny one, against committed snapshots in <c>Snapshots/</c>
/// (see <see cref="Snapshot"/> for how to accept a change). The 4000-step schedules are left out of the example
/// snapshots (1.2 MB of literals each); <c>GeneratedModelTests</c> checks their values against the reference fixtures,
/// and the tiny model's schedule file shows their form.
/// </summary>
public sealed class SnapshotTests
{
    [Fact]
    public void Tiny()
    {
        var outcome = GeneratorHarness.Run("""
            using ImprovedDdpm;

            namespace Users;

            [Diffusion(Steps = 10, Schedule = NoiseSchedule.Cosine, LearnSigma = true, TimestepRespacing = "5")]
            [UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2, ClassCond = true, NumClasses = 10)]
            public partial class Tiny;
            """);
        AssertCompiles(outcome);
        Assert.Equal(["Users.Tiny.Diffusion.g.cs", "Users.Tiny.EntryPoints.g.cs", "Users.Tiny.Network.g.cs", "Users.Tiny.Schedule.g.cs"], outcome.Files.Keys.Order());
        foreach (var (name, text) in outcome.Files) Snapshot.Match(text, name);
    }

    [Fact]
    public void Cifar10() => MatchExample("Cifar10");

    [Fact]
    public void ImageNet64() => MatchExample("ImageNet64");

    [Fact]
    public void SuperRes() => MatchExample("SuperRes");

    /// <summary>The example project's own Models.cs, so the snapshot is of exactly what the example builds.</summary>
    static void MatchExample(string example, [System.Runtime.CompilerServices.CallerMemberName] string test = "")
    {
        var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", ".."));
        var outcome = GeneratorHarness.Run(File.ReadAllText(Path.Combine(root, "examples", example, "Models.cs")));
        AssertCompiles(outcome);
        Assert.Equal(8, outcome.Files.Count); // two models, four files each
        foreach (var (name, text) in outcome.Files.Where(f => !f.Key.EndsWith(".Schedule.g.cs", StringComparison.Ordinal)))
            Snapshot.Match(text, name, test);
    }

    static void AssertCompiles(GeneratorOutcome outcome)
    {
        Assert.Empty(outcome.Diagnostics);
        Assert.Empty(outcome.CompilationErrors);
    }

    static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string file = "") => file;
}
