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
        Assert.Equal((3 * 10) + 2, grid.Width);
        Assert.Equal((2 * 10) + 2, grid.Height);
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
        var (code, text) = Run("sample", "--model-path", missing, "--num-samples", "1");
        Assert.Equal(1, code);
        Assert.Contains(missing, text, StringComparison.Ordinal);

        // The unconditional fixture lacks TinyCond's class embedding.
        (code, text) = Run("sample", "--model-path", ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors"), "--num-samples", "1");
        Assert.Equal(1, code);
        Assert.Contains("label_emb.weight", text, StringComparison.Ordinal);
    }

    SampleOptions Options() => new(weights, NumSamples: 5, BatchSize: 2, Respacing: "ddim5", UseDdim: true, Seed: 3);

    static (int Code, string Output) Run(params string[] args) => ToolRunner.Run(TinyCond.Definition, args);
}
