using Microsoft.CodeAnalysis;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>
/// Every invalid configuration is a compile error with its own id, at the offending argument (or the attribute, when the
/// argument was left unset), with a message naming the bad value and what would be valid, and nothing else reported or
/// generated.
/// </summary>
public sealed class DiagnosticTests
{
    static string Model(string diffusion = "Steps = 100", string unet = "ImageSize = 32, Channels = 64, ResBlocks = 1", string? training = null,
        string declaration = "public partial class M;", string? superRes = null) =>
        $$"""
        using ImprovedDdpm;

        namespace Users;

        [Diffusion({{diffusion}})]
        [UNet({{unet}})]
        {{(training is null ? "" : $"[Training({training})]")}}
        {{(superRes is null ? "" : $"[SuperRes({superRes})]")}}
        {{declaration}}
        """;

    static void AssertSingle(string source, string id, string locatedText, string message)
    {
        var outcome = GeneratorHarness.Run(source);
        AssertSingle(outcome, id, message);
        Assert.Equal(locatedText, outcome.LocatedText(outcome.Diagnostics[0]));
        Assert.Empty(outcome.Files);
    }

    static void AssertSingle(GeneratorOutcome outcome, string id, string message)
    {
        var diagnostic = Assert.Single(outcome.Diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Equal(message, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void IDDPM001_steps_below_two() => AssertSingle(Model(diffusion: "Steps = 0"), "IDDPM001", "Steps = 0",
        "Steps = 0 is too few for a diffusion process (the posterior at t = 0 reads t = 1); use 2 or more (the paper uses 1000 or 4000)");

    [Fact]
    public void IDDPM001_a_linear_schedule_whose_last_beta_reaches_one() => AssertSingle(Model(diffusion: "Steps = 20"), "IDDPM001", "Steps = 20",
        "Steps = 20 is too few for the linear schedule (its last beta, 0.02 * 1000 / Steps, must stay below 1); use 21 or more (the paper uses 1000 or 4000)");

    [Fact]
    public void IDDPM002_an_image_size_without_default_channel_multipliers() => AssertSingle(
        Model(unet: "ImageSize = 128, Channels = 64, ResBlocks = 1"), "IDDPM002", "ImageSize = 128",
        "ImageSize = 128 has no default channel multipliers (the reference defines them for 32, 64 and 256); set ChannelMult, for example \"1,2,2,2\"");

    [Fact]
    public void IDDPM003_a_list_that_is_not_positive_integers() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, ChannelMult = \"1,two\""), "IDDPM003", "ChannelMult = \"1,two\"",
        "ChannelMult = \"1,two\" is not a comma-separated list of positive integers; write it like \"1,2,2,2\"");

    [Fact]
    public void IDDPM004_an_attention_resolution_never_reached() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, AttentionResolutions = \"16,2\""), "IDDPM004", "AttentionResolutions = \"16,2\"",
        "Attention resolution 2 is never reached; this network visits 32, 16, 8 and 4");

    [Fact]
    public void IDDPM005_heads_that_do_not_divide_the_channels() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 96, ResBlocks = 1, Heads = 5"), "IDDPM005", "Heads = 5",
        "Heads = 5 does not divide the 192 channels of the attention at resolution 16; use a divisor of 192, such as 4");

    [Fact]
    public void IDDPM005_upsampling_heads_that_do_not_divide_the_channels() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, HeadsUpsample = 3"), "IDDPM005", "HeadsUpsample = 3",
        "HeadsUpsample = 3 does not divide the 128 channels of the attention at resolution 8; use a divisor of 128, such as 2");

    [Fact]
    public void IDDPM006_dropout_outside_zero_to_one() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, Dropout = 1.0"), "IDDPM006", "Dropout = 1.0",
        "Dropout = 1 is outside [0, 1); use a probability such as 0.1 or 0.3");

    [Fact]
    public void IDDPM007_a_class_conditional_model_without_classes() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, ClassCond = true, NumClasses = 0"), "IDDPM007", "NumClasses = 0",
        "ClassCond = true needs NumClasses of at least 1; got 0");

    [Fact]
    public void IDDPM008_a_respacing_that_cannot_be_made() => AssertSingle(
        Model(diffusion: "Steps = 100, TimestepRespacing = \"ddim30\""), "IDDPM008", "TimestepRespacing = \"ddim30\"",
        "TimestepRespacing: respacing \"ddim30\": cannot create exactly 30 steps from 100 with an integer stride");

    [Fact]
    public void IDDPM008_a_respacing_to_one_step() => AssertSingle(
        Model(diffusion: "Steps = 100, TimestepRespacing = \"1\""), "IDDPM008", "TimestepRespacing = \"1\"",
        "TimestepRespacing: respacing \"1\" keeps a single step; a diffusion process needs at least 2 (the posterior at t = 0 uses t = 1)");

    [Fact]
    public void IDDPM009_a_class_that_is_not_partial() => AssertSingle(
        Model(declaration: "public class M { }"), "IDDPM009", "M",
        "'M' must be declared partial so the generator can add its network, schedule and diffusion");

    [Fact]
    public void IDDPM010_a_generic_class() => AssertSingle(
        Model(declaration: "public partial class M<T> { }"), "IDDPM010", "M",
        "'M' is generic; declare the model as a non-generic class");

    [Fact]
    public void IDDPM011_a_nested_class() => AssertSingle(
        """
        using ImprovedDdpm;

        public partial class Outer
        {
            [Diffusion(Steps = 100)]
            [UNet(ImageSize = 32, Channels = 64, ResBlocks = 1)]
            public partial class M;
        }
        """, "IDDPM011", "M", "'M' is nested inside 'Outer'; declare the model at namespace level");

    [Fact]
    public void IDDPM012_diffusion_without_a_network() => AssertSingle(
        """
        using ImprovedDdpm;

        [Diffusion(Steps = 100)]
        public partial class M;
        """, "IDDPM012", "Diffusion(Steps = 100)",
        "'M' has [Diffusion] but no [UNet]; add [UNet(ImageSize = ..., Channels = ..., ResBlocks = ...)]");

    [Fact]
    public void IDDPM013_a_network_without_diffusion() => AssertSingle(
        """
        using ImprovedDdpm;

        [UNet(ImageSize = 32)]
        public partial class M;
        """, "IDDPM013", "UNet(ImageSize = 32)", "'M' has [UNet] but no [Diffusion]; add [Diffusion(Steps = ..., Schedule = ...)]");

    [Fact]
    public void IDDPM013_training_without_diffusion() => AssertSingle(
        """
        using ImprovedDdpm;

        [Training(Lr = 1e-4)]
        public partial class M;
        """, "IDDPM013", "Training(Lr = 1e-4)", "'M' has [Training] but no [Diffusion]; add [Diffusion(Steps = ..., Schedule = ...)]");

    [Fact]
    public void IDDPM013_super_resolution_without_diffusion() => AssertSingle(
        """
        using ImprovedDdpm;

        [SuperRes(SmallSize = 16)]
        public partial class M;
        """, "IDDPM013", "SuperRes(SmallSize = 16)", "'M' has [SuperRes] but no [Diffusion]; add [Diffusion(Steps = ..., Schedule = ...)]");

    [Fact]
    public void IDDPM014_learned_and_fixed_small_variance() => AssertSingle(
        Model(diffusion: "Steps = 100, LearnSigma = true, SigmaSmall = true"), "IDDPM014", "SigmaSmall = true",
        "SigmaSmall = true conflicts with LearnSigma = true: a learned variance replaces the fixed small one; remove SigmaSmall or LearnSigma");

    [Fact]
    public void IDDPM014_a_class_count_on_an_unconditional_model() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, NumClasses = 10"), "IDDPM014", "NumClasses = 10",
        "NumClasses = 10 conflicts with ClassCond = false: a class count only applies to a class-conditional model; set ClassCond = true or remove NumClasses");

    [Fact]
    public void IDDPM015_a_value_out_of_range() => AssertSingle(
        Model(training: "BatchSize = 0"), "IDDPM015", "BatchSize = 0",
        "BatchSize = 0 is not valid; it must be a positive number of images");

    [Fact]
    public void IDDPM016_channels_not_a_multiple_of_32() => AssertSingle(
        Model(unet: "ImageSize = 32, Channels = 100, ResBlocks = 1"), "IDDPM016", "Channels = 100",
        "Channels = 100 is not a multiple of 32; every normalisation is a GroupNorm over 32 groups, so use 32, 64, 128, 192, …");

    [Fact]
    public void IDDPM017_an_image_size_that_cannot_be_halved_at_every_level() => AssertSingle(
        Model(unet: "ImageSize = 36, Channels = 64, ResBlocks = 1, ChannelMult = \"1,2,2,2\", AttentionResolutions = \"\""), "IDDPM017", "ImageSize = 36",
        "ImageSize = 36 cannot be halved 3 times for 4 levels; use a multiple of 8");

    [Fact]
    public void IDDPM018_an_invalid_ema_rate() => AssertSingle(
        Model(training: "EmaRate = \"0.9999,1.5\""), "IDDPM018", "EmaRate = \"0.9999,1.5\"",
        "EmaRate = \"0.9999,1.5\" is not valid; it must be comma-separated rates in [0, 1], like \"0.9999\" or \"0.9999,0.999\"");

    [Fact]
    public void IDDPM020_a_small_size_not_smaller_than_the_image() => AssertSingle(
        Model(superRes: "SmallSize = 32"), "IDDPM020", "SmallSize = 32",
        "SmallSize = 32 does not fit ImageSize = 32: a super-resolution model makes larger images from smaller ones; use a divisor of 32 below it, such as 16");

    [Fact]
    public void IDDPM020_a_small_size_that_does_not_divide_the_image() => AssertSingle(
        Model(superRes: "SmallSize = 12"), "IDDPM020", "SmallSize = 12",
        "SmallSize = 12 does not fit ImageSize = 32: it must divide the image size, so that the low-resolution image is the mean of whole 2x2 blocks; the nearest divisor is 8");

    [Fact]
    public void IDDPM020_the_default_small_size_is_the_references_and_too_large_for_a_64_pixel_model() => AssertSingle(
        Model(unet: "ImageSize = 64, Channels = 64, ResBlocks = 1", superRes: ""), "IDDPM020", "SuperRes()",
        "SmallSize = 64 does not fit ImageSize = 64: a super-resolution model makes larger images from smaller ones; use a divisor of 64 below it, such as 32");

    [Fact]
    public void IDDPM015_a_small_size_below_one() => AssertSingle(
        Model(superRes: "SmallSize = 0"), "IDDPM015", "SmallSize = 0", "SmallSize = 0 is not valid; it must be a positive number of pixels");

    [Fact]
    public void A_super_resolution_model_compiles_with_its_network_taking_the_low_resolution_images()
    {
        var outcome = GeneratorHarness.Run(Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, ChannelMult = \"1,2\", AttentionResolutions = \"16\"", superRes: "SmallSize = 8"));
        Assert.Empty(outcome.Diagnostics);
        Assert.Empty(outcome.CompilationErrors);
        var network = outcome.Files["Users.M.Network.g.cs"];
        Assert.Contains("public sealed class Network : SuperResNetworkModule", network, StringComparison.Ordinal);
        Assert.Contains("public override Tensor forward(Tensor x, Tensor timesteps, Tensor lowRes, Tensor? y = null)", network, StringComparison.Ordinal);
        Assert.Contains("nn.Conv2d(2 * InChannels, 64, 3, padding: 1)", network, StringComparison.Ordinal);
        Assert.Contains("{ SmallSize = 8 };", outcome.Files["Users.M.EntryPoints.g.cs"], StringComparison.Ordinal);
    }

    [Fact]
    public void IDDPM019_an_executable_with_several_models_and_no_main()
    {
        var outcome = GeneratorHarness.Run(Model(declaration: """
            public partial class M;

            [Diffusion(Steps = 100)]
            [UNet(ImageSize = 32, Channels = 64, ResBlocks = 1)]
            public partial class Other;
            """), OutputKind.ConsoleApplication);
        AssertSingle(outcome, "IDDPM019",
            "This executable declares several models (Users.M, Users.Other) and no Main; write a Main that calls one model's Run(args)");
        Assert.DoesNotContain("ImprovedDdpmEntryPoint.g.cs", outcome.Files.Keys);
    }

    [Fact]
    public void An_executable_with_one_model_and_no_main_gets_the_command_line_tool_as_its_entry_point()
    {
        var outcome = GeneratorHarness.Run(Model(), OutputKind.ConsoleApplication);
        Assert.Empty(outcome.Diagnostics);
        Assert.Empty(outcome.CompilationErrors);
        Assert.Contains("public static int Main(string[] args) => global::Users.M.Run(args);", outcome.Files["ImprovedDdpmEntryPoint.g.cs"], StringComparison.Ordinal);

        var withOwnMain = GeneratorHarness.Run(Model() + "\nclass Program { static int Main(string[] args) => Users.M.Run(args); }", OutputKind.ConsoleApplication);
        Assert.Empty(withOwnMain.CompilationErrors);
        Assert.DoesNotContain("ImprovedDdpmEntryPoint.g.cs", withOwnMain.Files.Keys);
    }

    [Fact]
    public void Checkpointing_is_accepted_silently_and_reaches_both_block_factories()
    {
        var outcome = GeneratorHarness.Run(Model(unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, Checkpointing = true"));
        Assert.Empty(outcome.Diagnostics);
        Assert.Empty(outcome.CompilationErrors);
        var network = outcome.Files["Users.M.Network.g.cs"];
        Assert.Contains("new(channels, EmbedChannels, Dropout, outChannels, useScaleShiftNorm: true, useCheckpoint: true);", network, StringComparison.Ordinal);
        Assert.Contains("new(channels, heads, useCheckpoint: true);", network, StringComparison.Ordinal);
    }

    [Fact]
    public void With_the_core_library_alone_the_model_gets_its_definition_and_no_command_line_tool()
    {
        var library = GeneratorHarness.Run(Model(), withCommandLine: false);
        Assert.Empty(library.Diagnostics);
        Assert.Empty(library.CompilationErrors);
        var entryPoints = library.Files["Users.M.EntryPoints.g.cs"];
        Assert.Contains("public static ModelDefinition Definition", entryPoints, StringComparison.Ordinal);
        Assert.DoesNotContain("CommandLineHost", entryPoints, StringComparison.Ordinal);

        // An executable must then write its own Main: none is made up that would call a tool that is not there.
        var executable = GeneratorHarness.Run(Model(), OutputKind.ConsoleApplication, withCommandLine: false);
        Assert.DoesNotContain("ImprovedDdpmEntryPoint.g.cs", executable.Files.Keys);
        Assert.Contains(executable.CompilationErrors, error => error.Id == "CS5001"); // no Main
    }

    [Fact]
    public void Unset_arguments_are_reported_at_their_attribute()
    {
        // ImageSize defaults to 64: three levels visit 64, 32 and 16, so the default AttentionResolutions "16,8" misses 8.
        AssertSingle(Model(unet: "Channels = 64, ChannelMult = \"1,2,2\""), "IDDPM004", "UNet(Channels = 64, ChannelMult = \"1,2,2\")",
            "Attention resolution 8 is never reached; this network visits 64, 32 and 16");
    }

    [Fact]
    public void Several_problems_are_all_reported()
    {
        var outcome = GeneratorHarness.Run(Model(diffusion: "Steps = 1", unet: "ImageSize = 32, Channels = 64, ResBlocks = 1, Dropout = -0.5"));
        Assert.Equal(["IDDPM001", "IDDPM006"], outcome.Diagnostics.Select(d => d.Id).Order());
        Assert.Empty(outcome.Files);
    }

    [Fact]
    public void Every_descriptor_is_an_error_listed_in_the_release_tracking_file()
    {
        var ids = typeof(DiagnosticTests).GetMethods().Select(m => m.Name).Where(n => n.StartsWith("IDDPM", StringComparison.Ordinal))
            .Select(n => n[..8]).Distinct().Order().ToArray();
        var releases = File.ReadAllLines(Path.Combine(RepositoryRoot(), "src/Generators/AnalyzerReleases.Unshipped.md"))
            .Where(line => line.StartsWith("IDDPM", StringComparison.Ordinal)).Select(line => line[..8]).Order().ToArray();
        Assert.Equal(releases, ids);
    }

    static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string file = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));
}
