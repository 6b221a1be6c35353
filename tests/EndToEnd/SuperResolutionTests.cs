using System.Globalization;
using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// The cascade's second stage through the generated tool of TinySuperRes (16x16 from 8x8): training on images the test
/// makes, upsampling base samples, and the bits/dim conditioned on the downsampled images.
/// </summary>
public sealed class SuperResolutionTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-superres-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    static (int Code, string Output) Run(params string[] args) => ToolRunner.Run(TinySuperRes.Definition, args);

    /// <summary>Base samples as `sample` of an 8x8 model writes them: smooth images from <paramref name="seed"/>.</summary>
    string BaseSamples(string name, int count, int seed, int size = 8)
    {
        var random = new Random(seed);
        var pixels = new byte[count * size * size * 3];
        random.NextBytes(pixels);
        return new SampleSet(pixels, count, size, size, 3, null).Save(Path.Combine(folder, name)).Npz;
    }

    [Fact]
    public void A_trained_model_upsamples_each_base_sample_and_the_low_resolution_image_conditions_it()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 8, 16);
        var run = Path.Combine(folder, "run");
        var (code, text) = Run("train", "--data-dir", data, "--run-dir", run, "--max-steps", "6", "--batch-size", "4",
            "--lr", "2e-3", "--save-interval", "6", "--log-interval", "3");
        Assert.True(code == 0, text);
        var weights = Path.Combine(run, "model000006.pt");
        Assert.True(File.Exists(weights), text);
        var (steps, losses) = ProgressCsv.Read(Path.Combine(run, TrainLoop.ProgressFileName)).Series("loss");
        Assert.Equal([2.0, 5], steps);
        Assert.All(losses, loss => Assert.True(double.IsFinite(loss), text));

        // Upsampling: one sample per base sample (no --num-samples), at the model's size.
        string[] sampling = ["sample", "--model-path", weights, "--use-ddim", "--timestep-respacing", "ddim10", "--batch-size", "2", "--seed", "5"];
        var first = Path.Combine(folder, "first");
        (code, text) = Run([.. sampling, "--base-samples", BaseSamples("base_a", 3, seed: 1), "--output", first]);
        Assert.True(code == 0, text);
        Assert.Contains("wrote 3 samples", text);
        var upsampled = SampleSet.Load(first + ".npz");
        Assert.Equal((3, 16, 16, 3), (upsampled.Count, upsampled.Height, upsampled.Width, upsampled.Channels));
        Assert.True(File.Exists(first + ".png"));

        // The same noise (seed) and the same base samples give the same images; other base samples give other images.
        var again = Path.Combine(folder, "again");
        (code, text) = Run([.. sampling, "--base-samples", Path.Combine(folder, "base_a.npz"), "--output", again]);
        Assert.True(code == 0, text);
        Assert.Equal(upsampled.Pixels, SampleSet.Load(again + ".npz").Pixels);
        var other = Path.Combine(folder, "other");
        (code, text) = Run([.. sampling, "--base-samples", BaseSamples("base_b", 3, seed: 2), "--output", other]);
        Assert.True(code == 0, text);
        var otherPixels = SampleSet.Load(other + ".npz").Pixels;
        var differing = upsampled.Pixels.Zip(otherPixels).Count(pair => pair.First != pair.Second);
        Assert.True(differing > upsampled.Pixels.Length / 10, $"only {differing} of {upsampled.Pixels.Length} values changed with the low-resolution input");

        // --num-samples takes the first base samples: the same images as the first two of the full run.
        var two = Path.Combine(folder, "two");
        (code, text) = Run([.. sampling, "--base-samples", Path.Combine(folder, "base_a.npz"), "--num-samples", "2", "--output", two]);
        Assert.True(code == 0, text);
        Assert.Equal(upsampled.Pixels.AsSpan(0, 2 * 16 * 16 * 3).ToArray(), SampleSet.Load(two + ".npz").Pixels);

        // nll conditions on each image's downsampled copy.
        (code, text) = Run("nll", "--data-dir", data, "--model-path", weights, "--batch-size", "4", "--num-samples", "4", "--timestep-respacing", "10",
            "--terms-csv", Path.Combine(folder, "terms.csv"));
        Assert.True(code == 0, text);
        var bitsPerDim = double.Parse(text.Trim().Split('\n')[^1], CultureInfo.InvariantCulture);
        Assert.True(double.IsFinite(bitsPerDim) && bitsPerDim > 0, text);
    }

    [Fact]
    public void Base_samples_are_required_and_checked_with_the_file_and_the_expected_shape_named()
    {
        var weights = ReferenceFixtures.PathOf("super_res_model.safetensors");
        var (code, text) = Run("sample", "--model-path", weights, "--output", Path.Combine(folder, "none"));
        Assert.Equal(1, code);
        Assert.Contains("--base-samples is required", text);

        var missing = Path.Combine(folder, "missing.npz");
        (code, text) = Run("sample", "--model-path", weights, "--base-samples", missing, "--output", Path.Combine(folder, "out"));
        Assert.Equal(1, code);
        Assert.Contains(missing, text);

        var tooLarge = BaseSamples("large", 2, seed: 3, size: 16);
        (code, text) = Run("sample", "--model-path", weights, "--base-samples", tooLarge, "--output", Path.Combine(folder, "out"));
        Assert.Equal(1, code);
        Assert.Contains(tooLarge, text);
        Assert.Contains("[N, 8, 8, 3] uint8 images", text);
        Assert.False(File.Exists(Path.Combine(folder, "out.npz")));

        var unconditional = ToolRunner.Run(TinySigma.Definition, "sample", "--model-path", ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors"),
            "--base-samples", tooLarge, "--output", Path.Combine(folder, "out"));
        Assert.Equal(1, unconditional.Code);
        Assert.Contains("not a super-resolution model", unconditional.Output);
    }
}
