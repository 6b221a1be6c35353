extern alias Generators;

using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TrackingNames = Generators::ImprovedDdpm.Generators.TrackingNames;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>
/// The generator is incremental: after an edit that does not touch a model, every tracked step reports its output cached
/// or unchanged and nothing is emitted again; an edit to a model's attribute re-emits that model only.
/// </summary>
public sealed class IncrementalityTests
{
    const string Models = """
        using ImprovedDdpm;

        namespace Users;

        [Diffusion(Steps = 100, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
        [UNet(ImageSize = 32, Channels = 64, ResBlocks = 1)]
        public partial class First;

        [Diffusion(Steps = 50)]
        [UNet(ImageSize = 32, Channels = 64, ResBlocks = 1, Dropout = 0.1)]
        [Training(BatchSize = 8)]
        public partial class Second;

        [UNet(ImageSize = 32)]
        public partial class OrphanNetwork;

        [Training(BatchSize = 4)]
        public partial class OrphanTraining;
        """;

    static readonly string[] Steps = [TrackingNames.Models, TrackingNames.Specs, TrackingNames.OrphanUNets, TrackingNames.OrphanTrainings, TrackingNames.EntryPoint];

    [Fact]
    public void An_unrelated_edit_leaves_every_step_cached()
    {
        var compilation = GeneratorHarness.Compile(Models, "namespace Users; public static class Helper { public const int Answer = 41; }");
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);

        var other = compilation.SyntaxTrees.Last();
        var edited = compilation.ReplaceSyntaxTree(other,
            CSharpSyntaxTree.ParseText("namespace Users; public static class Helper { public const int Answer = 42; public static int Twice => 2 * Answer; }",
                GeneratorHarness.ParseOptions, other.FilePath));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var step in Steps)
        {
            var outputs = second.TrackedSteps[step].SelectMany(s => s.Outputs).ToList();
            Assert.NotEmpty(outputs);
            Assert.All(outputs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        }
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Editing_one_model_re_emits_only_that_model()
    {
        var compilation = GeneratorHarness.Compile(Models);
        var driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);

        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree,
            CSharpSyntaxTree.ParseText(Models.Replace("Dropout = 0.1", "Dropout = 0.2", StringComparison.Ordinal), GeneratorHarness.ParseOptions, tree.FilePath));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();

        var specs = second.TrackedSteps[TrackingNames.Specs].SelectMany(s => s.Outputs).ToList();
        Assert.Equal(2, specs.Count);
        Assert.Single(specs, o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Single(specs, o => o.Reason is IncrementalStepRunReason.Unchanged or IncrementalStepRunReason.Cached);
        Assert.Contains("const double Dropout = 0.2;", second.GeneratedSources.Single(s => s.HintName == "Users.Second.Network.g.cs").SourceText.ToString());
    }
}
