using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using SixLabors.ImageSharp;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// <c>sample</c> and <c>merge</c> of the generated command-line tool, on the tiny class-conditional model with the
/// reference's tiny checkpoint: files in the reference's format, shards that add up to one run, and bad input refused.
/// </summary>
public sealed class SampleCommandTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-sample-").FullName;
    readonly string weights = ReferenceFixtures.PathOf("tiny_unet_cond.safetensors");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Sample_writes_the_reference_npz_and_a_png_grid()
    {
        var output = Path.Combine(folder, "out");
        var (code, text) = Run("sample", "--model-path", weights, "--num-samples", "5", "--batch-size", "2",
            "--timestep-respacing", "ddim5", "--use-ddim", "--output", output);
        Assert.True(code == 0, text);

        using (var npz = new NpzReader(output + ".npz"))
        {
            Assert.Equal(["arr_0", "arr_1"], npz.Names);
            var images = npz.ReadUInt8("arr_0", out var imagesHeader);
            Assert.Equal(NpyDType.UInt8, imagesHeader.DType);
            Assert.Equal([5L, 8, 8, 3], imagesHeader.Shape);
            var labels = npz.ReadInt64("arr_1", out var labelsHeader);
            Assert.Equal(NpyDType.Int64, labelsHeader.DType);
            Assert.All(labels, label => Assert.InRange(label, 0, 9));
            Assert.True(images.Distinct().Count() > 10, "the samples should not be blank");
        }

        using var grid = Image.Load(output + ".png");
        // 8-pixel samples, shown 12 times as large (96 pixels) with 2-pixel gaps: three columns, two rows.
        var shown = 8 * SampleImages.DefaultScale(8, 8);
        Assert.Equal((3 * (shown + 2)) + 2, grid.Width);
        Assert.Equal((2 * (shown + 2)) + 2, grid.Height);
    }

    [Fact]
    public void Shards_merged_in_order_equal_one_run()
    {
        var whole = ImageSampling.Run(TinyCond.Definition, Options());
        var parts = Enumerable.Range(0, 3).Select(shard => ImageSampling.Run(TinyCond.Definition, Options() with { Shard = shard, NumShards = 3 })).ToList();
        var merged = SampleSet.Concatenate(parts);
        Assert.Equal(whole.Pixels, merged.Pixels);
        Assert.Equal(whole.Labels, merged.Labels);

        // Through files and the merge command, as separate processes would.
        var paths = parts.Select((part, i) => part.Save(Path.Combine(folder, $"part{i}")).Npz).ToList();
        var (code, text) = Run(["merge", .. paths, "--output", Path.Combine(folder, "merged")]);
        Assert.True(code == 0, text);
        Assert.Equal(whole.Pixels, SampleSet.Load(Path.Combine(folder, "merged.npz")).Pixels);
    }

    [Fact]
    public void A_given_class_labels_every_sample()
    {
        var samples = ImageSampling.Run(TinyCond.Definition, Options() with { NumSamples = 3, ClassLabel = 7 });
        Assert.Equal([7L, 7, 7], samples.Labels!);
    }

    [Fact]
    public void A_sampler_draws_what_the_library_solver_draws_from_the_same_seed()
    {
        var output = Path.Combine(folder, "dpm");
        var (code, text) = Run("sample", "--model-path", weights, "--num-samples", "3", "--batch-size", "2", "--sampler", "DPM-Solver++-2M",
            "--steps", "4", "--seed", "5", "--output", output);
        Assert.True(code == 0, text);
        var written = SampleSet.Load(output + ".npz");

        // Batch b: the sampler's own solver from noise seeded by (seed, b), labels drawn from the same generator first.
        using var network = TinyCond.Definition.LoadNetwork(weights);
        var expected = new List<byte>();
        foreach (var (batch, count) in new[] { (0, 2), (1, 1) })
        {
            using var noise = new SeededNoiseSource((5 * 1_000_003L) + batch);
            using var labels = TorchSharp.torch.randint(10, [count], TorchSharp.torch.ScalarType.Int64, generator: noise.Generator);
            using var x = DiffusionSamplers.Sample(TinyCond.CreateDiffusion(""), network, [count, 3, 8, 8], noise, SamplerKind.DpmSolverPlusPlus2M, 4, y: labels);
            expected.AddRange(SampleImages.ToUInt8Nhwc(x));
        }
        Assert.Equal(expected, written.Pixels);
        Assert.NotEqual(written.Pixels, ImageSampling.Run(TinyCond.Definition, new SampleOptions(weights, NumSamples: 3, BatchSize: 2, Seed: 5, Sampler: SamplerKind.KarrasHeun, Steps: 4)).Pixels);
    }

    [Theory]
    [InlineData("--sampler", "heun", "--sampler: 'heun' is not one of ddpm, ddim, dpm-solver++-2m, karras-heun, karras-euler")]
    [InlineData("--steps", "5", "--steps goes with --sampler")]
    public void Sampler_flags_are_checked(string option, string value, string message)
    {
        var (code, text) = Run("sample", "--model-path", weights, "--num-samples", "2", "--output", Path.Combine(folder, "x"), option, value);
        Assert.Equal(1, code);
        Assert.Contains(message, text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sampler_with_a_respacing_is_refused()
    {
        var (code, text) = Run("sample", "--model-path", weights, "--output", Path.Combine(folder, "x"), "--sampler", "ddim", "--use-ddim");
        Assert.Equal(1, code);
        Assert.Contains("--sampler ddim chooses its own steps: leave out --timestep-respacing, --use-ddim and --eta", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--class", "10", "--class 10 is out of range: TinyCond has classes 0 to 9")]
    [InlineData("--timestep-respacing", "ddim6", "cannot create exactly 6 steps from 10")]
    [InlineData("--shard", "2", "--shard must be in [0, --num-shards)")]
    public void Bad_options_exit_with_a_message_naming_them(string option, string value, string message)
    {
        var (code, text) = Run("sample", "--model-path", weights, "--num-samples", "2", "--output", Path.Combine(folder, "x"), option, value);
        Assert.Equal(1, code);
        Assert.Contains(message, text, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(folder, "x.npz")));
    }

    [Fact]
    public void A_missing_or_foreign_checkpoint_is_named()
    {
        var missing = Path.Combine(folder, "nope.pt");
        var (code, text) = Run("sample", "--model-path", missing, "--num-samples", "1", "--output", Path.Combine(folder, "x"));
        Assert.Equal(1, code);
        Assert.Contains(missing, text, StringComparison.Ordinal);

        // The unconditional fixture lacks TinyCond's class embedding.
        (code, text) = Run("sample", "--model-path", ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors"), "--num-samples", "1", "--output", Path.Combine(folder, "x"));
        Assert.Equal(1, code);
        Assert.Contains("label_emb.weight", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("adir/")]
    [InlineData("existing")]
    public void A_folder_as_output_gets_the_default_names_inside_it(string output)
    {
        Directory.CreateDirectory(Path.Combine(folder, "existing"));
        var target = Path.Combine(folder, output);
        var (code, text, errors) = RunSeparately("sample", "--model-path", weights, "--num-samples", "3", "--batch-size", "2",
            "--timestep-respacing", "2", "--num-shards", "2", "--shard", "1", "--output", target);
        Assert.True(code == 0, text + errors);
        var inside = Path.Combine(folder, output.TrimEnd('/'));
        // Shard 1 of 2 of two batches is the second batch: one sample.
        Assert.Equal(["samples_1x8x8x3_shard1of2.npz", "samples_1x8x8x3_shard1of2.png"],
            Directory.GetFiles(inside).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.False(File.Exists(Path.Combine(inside, ".npz")));
    }

    [Fact]
    public void Existing_outputs_are_refused_before_sampling_and_replaced_only_when_asked()
    {
        var output = Path.Combine(folder, "mine");
        File.WriteAllText(output + ".png", "a picture of mine");
        // The model path does not exist: the output is refused first, so no sampling could have started.
        var (code, text, errors) = RunSeparately("sample", "--model-path", Path.Combine(folder, "nope.pt"), "--output", output);
        Assert.Equal(1, code);
        Assert.Contains($"error: {output}.png already exists; pass --overwrite to replace it, or choose another --output", errors, StringComparison.Ordinal);
        Assert.Equal("", text);
        Assert.Equal("a picture of mine", File.ReadAllText(output + ".png"));
        Assert.False(File.Exists(output + ".npz"));

        (code, text, errors) = RunSeparately("sample", "--model-path", weights, "--num-samples", "1", "--timestep-respacing", "2", "--output", output, "--overwrite");
        Assert.True(code == 0, text + errors);
        Assert.Equal(1, SampleSet.Load(output + ".npz").Count);
        Assert.NotEqual("a picture of mine", File.ReadAllText(output + ".png"));
    }

    [Fact]
    public void The_default_name_is_not_overwritten_by_a_rerun()
    {
        string[] args = ["sample", "--model-path", weights, "--num-samples", "1", "--timestep-respacing", "2", "--output", folder + "/"];
        var (code, text, errors) = RunSeparately(args);
        Assert.True(code == 0, text + errors);
        var npz = Path.Combine(folder, "samples_1x8x8x3.npz");
        var first = File.ReadAllBytes(npz);
        (code, _, errors) = RunSeparately([.. args, "--seed", "9"]);
        Assert.Equal(1, code);
        Assert.Contains($"{npz} already exists; pass --overwrite", errors, StringComparison.Ordinal);
        Assert.Equal(first, File.ReadAllBytes(npz));
    }

    [Fact]
    public void An_unwritable_output_is_refused_before_sampling()
    {
        var notes = Path.Combine(folder, "notes.txt");
        File.WriteAllText(notes, "mine");
        var below = Path.Combine(notes, "samples");
        var (code, _, errors) = RunSeparately("sample", "--model-path", Path.Combine(folder, "nope.pt"), "--output", below);
        Assert.Equal(1, code);
        Assert.Contains($"error: --output {below}.npz: {notes} is a file, not a folder", errors, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(notes));

        var unwritable = UnwritableFolder.Path;
        (code, _, errors) = RunSeparately("sample", "--model-path", Path.Combine(folder, "nope.pt"), "--output", Path.Combine(unwritable, "s"));
        Assert.Equal(1, code);
        Assert.Contains($"error: --output: cannot write into {unwritable}", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void Merge_refuses_an_existing_output_unless_asked_and_takes_a_folder()
    {
        var part = ImageSampling.Run(TinyCond.Definition, Options() with { NumSamples = 2 }).Save(Path.Combine(folder, "part")).Npz;
        var output = Path.Combine(folder, "merged");
        File.WriteAllText(output + ".npz", "not yours to replace");
        var (code, _, errors) = RunSeparately("merge", part, "--output", output);
        Assert.Equal(1, code);
        Assert.Contains($"{output}.npz already exists; pass --overwrite", errors, StringComparison.Ordinal);
        Assert.Equal("not yours to replace", File.ReadAllText(output + ".npz"));

        (code, var text, errors) = RunSeparately("merge", part, "--output", output, "--overwrite");
        Assert.True(code == 0, text + errors);
        Assert.Equal(2, SampleSet.Load(output + ".npz").Count);

        (code, text, errors) = RunSeparately("merge", part, "--output", Path.Combine(folder, "merged-here") + "/");
        Assert.True(code == 0, text + errors);
        Assert.True(File.Exists(Path.Combine(folder, "merged-here", "samples_2x8x8x3.npz")));
    }

    SampleOptions Options() => new(weights, NumSamples: 5, BatchSize: 2, Respacing: "ddim5", UseDdim: true, Seed: 3);

    static (int Code, string Output) Run(params string[] args) => ToolRunner.Run(TinyCond.Definition, args);

    static (int Code, string Output, string Errors) RunSeparately(params string[] args) => ToolRunner.RunSeparately(TinyCond.Definition, args);
}
