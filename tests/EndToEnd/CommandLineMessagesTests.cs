using System.Text.RegularExpressions;
using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// What the generated tool says when its input is wrong: errors on standard error (so <c>tool … &gt; log</c> still
/// shows them) with exit code 1, naming the flag the user typed rather than a .NET type or property, and a help that
/// shows defaults one way. Every case fails before a network is built, so the class is fast.
/// </summary>
public sealed partial class CommandLineMessagesTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-messages-").FullName;
    readonly string weights = ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>An 8x8 image folder, as a user's data would be.</summary>
    string Data() => TrainingImages.Write(Path.Combine(folder, "data"), 4, size: 8);

    [Theory]
    [InlineData("--batch-size", "abc", "--batch-size: 'abc' is not an integer")]
    [InlineData("--max-steps", "1.5", "--max-steps: '1.5' is not an integer")]
    [InlineData("--lr", "fast", "--lr: 'fast' is not a number")]
    [InlineData("--schedule-sampler", "Cosine", "--schedule-sampler: 'Cosine' is not one of Uniform, LossSecondMoment")]
    [InlineData("--schedule-sampler", "1", "--schedule-sampler: '1' is not one of Uniform, LossSecondMoment")]
    public void A_value_of_the_wrong_type_names_the_flag_and_what_it_takes(string option, string value, string message)
    {
        var (code, output, errors) = Run("train", "--data-dir", folder, option, value);
        Assert.Equal(1, code);
        var lines = errors.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([$"error: {message}", $"See '{RootName} train --help' for the options."], lines);
        Assert.Equal("", output);
    }

    [Theory]
    [InlineData("sample", "--batch-size", "many", "--batch-size: 'many' is not an integer")]
    [InlineData("sample", "--eta", "x", "--eta: 'x' is not a number")]
    [InlineData("sample", "--class", "cat", "--class: 'cat' is not an integer")]
    [InlineData("nll", "--num-samples", "all", "--num-samples: 'all' is not an integer")]
    [InlineData("sample", "--device", "gpu", "--device gpu: expected cpu, cuda or cuda:N")]
    [InlineData("nll", "--device", "cuda:x", "--device cuda:x: expected cpu, cuda or cuda:N")]
    public void Other_commands_name_the_flag_too(string command, string option, string value, string message)
    {
        var (code, _, errors) = Run(command, "--model-path", weights, "--data-dir", folder, option, value);
        Assert.Equal(1, code);
        Assert.Contains(message, errors, StringComparison.Ordinal);
    }

    [Fact]
    public void Cuda_without_a_cuda_libtorch_is_refused_when_parsed()
    {
        if (TorchSharp.torch.cuda.is_available()) return; // a CUDA build with a GPU takes it
        var (code, _, errors) = Run("sample", "--model-path", weights, "--device", "cuda", "--output", Path.Combine(folder, "x"));
        Assert.Equal(1, code);
        Assert.Contains("--device cuda: this build's libtorch has no usable CUDA", errors, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(folder, "x.npz")));
    }

    [Theory]
    [InlineData("--batch-size", "0", "--batch-size 0: must be a positive number of images")]
    [InlineData("--lr", "-1", "--lr -1: must be a finite positive learning rate")]
    [InlineData("--log-interval", "0", "--log-interval 0: must be a positive number of steps")]
    [InlineData("--ema-rate", "0.9,0.9", "--ema-rate: EMA rates \"0.9,0.9\" are not valid; they must be comma-separated rates that differ")]
    [InlineData("--max-steps", "-3", "--max-steps -3: must be 0 or a positive number of steps")]
    public void A_value_out_of_range_names_the_flag_not_the_property(string option, string value, string message)
    {
        var (code, output, errors) = Run("train", "--data-dir", Data(), "--run-dir", Path.Combine(folder, "run"), option, value);
        Assert.Equal(1, code);
        Assert.Contains($"error: {message}", errors, StringComparison.Ordinal);
        Assert.Equal("", output);
        Assert.False(Directory.Exists(Path.Combine(folder, "run")));
    }

    [Theory]
    [InlineData("info")]
    [InlineData("sample", "--model-path", "{weights}", "--output", "{folder}/x")]
    [InlineData("nll", "--model-path", "{weights}", "--data-dir", "{data}", "--terms-csv", "{folder}/terms.csv")]
    public void A_bad_respacing_says_why_without_a_parameter_name(params string[] args)
    {
        var (code, _, errors) = Run([.. Expand(args), "--timestep-respacing", "ddim6"]);
        Assert.Equal(1, code);
        Assert.Contains("error: respacing \"ddim6\": cannot create exactly 6 steps from 10 with an integer stride", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_dir_that_is_a_file_is_called_a_file()
    {
        var file = Path.Combine(folder, "notes.txt");
        File.WriteAllText(file, "my notes");
        var (code, _, errors) = Run("train", "--data-dir", Data(), "--run-dir", file);
        Assert.Equal(1, code);
        Assert.Contains($"error: --run-dir {file} is a file, not a folder", errors, StringComparison.Ordinal);
        Assert.Equal("my notes", File.ReadAllText(file));

        (code, _, errors) = Run("train", "--data-dir", Data(), "--run-dir", Path.Combine(file, "run"));
        Assert.Equal(1, code);
        Assert.Contains($"error: --run-dir {Path.Combine(file, "run")}: {file} is a file, not a folder", errors, StringComparison.Ordinal);
    }

    /// <summary>Each command's error path, by a typical mistake: the error reaches standard error, nothing of it standard output.</summary>
    [Theory]
    [InlineData("train", "--data-dir", "{missing}")]
    [InlineData("train", "--data-dir", "{data}", "--batch-size", "0")]
    [InlineData("info", "--timestep-respacing", "0")]
    [InlineData("sample", "--model-path", "{missing}")]
    [InlineData("merge", "--output", "{folder}/m", "{missing}")]
    [InlineData("nll", "--data-dir", "{missing}", "--model-path", "{weights}")]
    [InlineData("evaluate", "--samples", "{missing}", "--reference", "{missing}", "--inception-weights", "{missing}")]
    [InlineData("report", "--run-dir", "{missing}")]
    [InlineData("sample", "--model-path")]
    [InlineData("sample", "--no-such-option", "1", "--model-path", "{weights}")]
    public void Errors_go_to_standard_error_with_exit_code_1(params string[] args)
    {
        var (code, output, errors) = Run(Expand(args));
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("error", output, StringComparison.OrdinalIgnoreCase);
        if (args.Contains("{missing}")) Assert.Contains(Missing, errors, StringComparison.Ordinal);
    }

    string Missing => Path.Combine(folder, "missing.npz");

    string[] Expand(string[] args) =>
    [
        .. args.Select(a => a.Replace("{missing}", Missing, StringComparison.Ordinal).Replace("{folder}", folder, StringComparison.Ordinal)
            .Replace("{weights}", weights, StringComparison.Ordinal).Replace("{data}", a.Contains("{data}", StringComparison.Ordinal) ? Data() : "", StringComparison.Ordinal)),
    ];

    [Theory]
    [InlineData("train")]
    [InlineData("sample")]
    [InlineData("nll")]
    [InlineData("evaluate")]
    public void Help_shows_every_default_one_way(string command)
    {
        var (code, help, _) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.DoesNotMatch(@"\(default[ :]", help);
        Assert.DoesNotContain("Default:", help, StringComparison.Ordinal);
        Assert.Contains("[default: cpu]", help, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_help_shows_the_model_defaults_in_the_same_place()
    {
        var (_, help, _) = Run("train", "--help");
        var flat = Whitespace().Replace(help, " ");
        var defaults = TinySigma.Definition.Training;
        Assert.Contains($"--batch-size <batch-size> Examples per optimiser step and process: under mpiexec -n K the global batch is K times this. [default: {defaults.BatchSize}]", flat, StringComparison.Ordinal);
        Assert.Contains($"--save-interval <save-interval> Steps between checkpoints. [default: {defaults.SaveInterval}]", flat, StringComparison.Ordinal);
        Assert.Contains("--ema-rate <ema-rate> Comma-separated EMA rates, one averaged copy of the weights each. [default: 0.9999]", flat, StringComparison.Ordinal);
        Assert.Contains("--seed <seed> Seed of every random draw (data order, timesteps, noise, dropout). [default: 0]", flat, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_says_clipping_is_on_and_how_to_turn_it_off_and_which_files_model_path_takes()
    {
        var (_, help, _) = Run("sample", "--help");
        Assert.Contains("--clip-denoised", help, StringComparison.Ordinal);
        Assert.Contains("on unless --no-clip-denoised", help, StringComparison.Ordinal);
        Assert.Contains("--no-clip-denoised", help, StringComparison.Ordinal);
        var flat = Whitespace().Replace(help, " ");
        Assert.Contains("modelNNNNNN.pt, ema_<rate>_NNNNNN.pt", flat, StringComparison.Ordinal);
        Assert.Contains("an optNNNNNN.pt holds optimizer moments, not weights", flat, StringComparison.Ordinal);
        Assert.Contains("--overwrite", help, StringComparison.Ordinal);
    }

    /// <summary>One image sampled in two steps by the library itself, clipped and not: what each flag must reproduce.</summary>
    static readonly Lazy<byte[]> Clipped = new(() => SampleOne(clip: true)), Unclipped = new(() => SampleOne(clip: false));

    static byte[] SampleOne(bool clip) =>
        ImageSampling.Run(TinySigma.Definition, new SampleOptions(ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors"), NumSamples: 1, Respacing: "2", ClipDenoised: clip)).Pixels;

    [Theory]
    [InlineData(new string[0], true)]
    [InlineData(new[] { "--clip-denoised" }, true)]
    [InlineData(new[] { "--clip-denoised", "true" }, true)]
    [InlineData(new[] { "--clip-denoised", "false" }, false)]
    [InlineData(new[] { "--no-clip-denoised" }, false)]
    public void Clipping_is_on_unless_turned_off_either_way(string[] flags, bool clipped)
    {
        // This untrained network predicts x_0 far outside [-1, 1], so clipping changes the pixels.
        Assert.NotEqual(Clipped.Value, Unclipped.Value);
        var samples = Path.Combine(folder, "s");
        var (code, output, errors) = Run(["sample", "--model-path", weights, "--num-samples", "1", "--timestep-respacing", "2", "--output", samples, .. flags]);
        Assert.True(code == 0, output + errors);
        Assert.Equal((clipped ? Clipped : Unclipped).Value, SampleSet.Load(samples + ".npz").Pixels);
    }

    [Fact]
    public void Both_clipping_flags_at_once_are_refused()
    {
        var (code, _, errors) = Run("sample", "--model-path", weights, "--clip-denoised", "--no-clip-denoised", "--output", Path.Combine(folder, "x"));
        Assert.Equal(1, code);
        Assert.Contains("--clip-denoised and --no-clip-denoised contradict each other", errors, StringComparison.Ordinal);
    }

    (int Code, string Output, string Errors) Run(params string[] args) => ToolRunner.RunSeparately(TinySigma.Definition, args);

    /// <summary>The tool's name as System.CommandLine gives it: the executable's, here the test host's.</summary>
    static string RootName => new System.CommandLine.RootCommand().Name;

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}

/// <summary>
/// Messages about what training leaves behind: a warning on stderr, and <c>--model-path</c> given a checkpoint's
/// optimizer file. In the global-random-state collection since they train (which seeds TorchSharp's generator).
/// </summary>
[Collection(GlobalRandomState.Name)]
public sealed class TrainedRunMessagesTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-model-path-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_warning_goes_to_standard_error()
    {
        var run = Directory.CreateDirectory(Path.Combine(folder, "empty-run")).FullName;
        var (code, output, errors) = ToolRunner.RunSeparately(TinySigma.Definition, "train", "--data-dir", TrainingImages.Write(Path.Combine(folder, "data"), 2, size: 8),
            "--run-dir", run, "--resume", "--max-steps", "1", "--batch-size", "2");
        Assert.True(code == 0, output + errors);
        Assert.Contains($"warning: {run} holds no checkpoint yet", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("holds no checkpoint", output, StringComparison.Ordinal);
    }

    [Fact]
    public void An_optimizer_file_is_refused_with_the_files_that_would_do()
    {
        var run = Path.Combine(folder, "run");
        var (code, text) = ToolRunner.Run(TinySigma.Definition, "train", "--data-dir", TrainingImages.Write(Path.Combine(folder, "data"), 2, size: 8),
            "--run-dir", run, "--max-steps", "1", "--batch-size", "2");
        Assert.True(code == 0, text);
        var optimizer = Path.Combine(run, "opt000001.pt");

        string[][] commands =
        [
            ["sample", "--num-samples", "1", "--output", Path.Combine(folder, "x")],
            ["nll", "--data-dir", Path.Combine(folder, "data"), "--terms-csv", Path.Combine(folder, "terms.csv")],
        ];
        foreach (var command in commands)
        {
            var (failed, _, errors) = ToolRunner.RunSeparately(TinySigma.Definition, [.. command, "--model-path", optimizer]);
            Assert.Equal(1, failed);
            var expected = $"error: {optimizer} holds an optimizer's state (as optNNNNNN.pt files do), not network weights: " +
                "give a model or EMA checkpoint (modelNNNNNN.pt, ema_<rate>_NNNNNN.pt, ours or the reference's) or a .safetensors file";
            Assert.True(errors.Contains(expected, StringComparison.Ordinal), errors);
        }
        using var network = TinySigma.Definition.LoadNetwork(Path.Combine(run, "ema_0.9999_000001.pt"), TorchSharp.torch.CPU);
    }
}
