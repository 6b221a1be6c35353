using System.Globalization;
using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// <c>evaluate</c> with a randomly initialised FID Inception network (the real weights cannot be downloaded here):
/// the pipeline must still rank two halves of one dataset as closer than the dataset and noise.
/// </summary>
[Collection(GlobalRandomState.Name)]
public sealed class EvaluateCommandTests(ITestOutputHelper output) : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-evaluate-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Halves_of_one_dataset_are_closer_than_the_dataset_and_noise()
    {
        manual_seed(5);
        var weights = Path.Combine(folder, "inception.pt");
        using (var network = new FidInceptionV3()) Checkpoint.SaveStateDict(network, weights);

        var images = TrainingImages.Write(Path.Combine(folder, "images"), 40, size: 8);
        var files = Directory.GetFiles(images).Order(StringComparer.Ordinal).ToArray();
        var reference = Directory.CreateDirectory(Path.Combine(folder, "reference")).FullName;
        foreach (var file in files.Where((_, i) => i % 2 == 0)) File.Copy(file, Path.Combine(reference, Path.GetFileName(file)));
        var half = SamplesOf(files.Where((_, i) => i % 2 == 1), "half");
        var noise = new byte[20 * 8 * 8 * 3];
        new Random(9).NextBytes(noise);
        var noisePath = Path.Combine(folder, "noise.npz");
        Npz.SaveSamples(noisePath, noise, [20, 8, 8, 3]);

        var stats = Path.Combine(folder, "reference_stats.npz");
        var (code, text) = ToolRunner.Run(TinyFixed.Definition, "evaluate", "--samples", half, "--reference", reference,
            "--inception-weights", weights, "--batch-size", "8", "--save-reference-stats", stats);
        Assert.True(code == 0, text);
        var halves = Fid(text);
        Assert.Contains("precision", text);
        Assert.Contains("Inception Score", text);

        // The same samples as a folder of PNGs, against the cached statistics: the same pixels, so the same FID.
        var halfFolder = Directory.CreateDirectory(Path.Combine(folder, "half")).FullName;
        foreach (var file in files.Where((_, i) => i % 2 == 1)) File.Copy(file, Path.Combine(halfFolder, Path.GetFileName(file)));
        (code, text) = ToolRunner.Run(TinyFixed.Definition, "evaluate", "--samples", halfFolder, "--reference", stats, "--inception-weights", weights,
            "--batch-size", "8");
        Assert.True(code == 0, text);
        Assert.Equal(halves, Fid(text));

        // A reference batch as guided-diffusion ships them: images (here the noise) beside statistics (here the data's).
        // FID must use the stored statistics, and precision/recall the images.
        var batch = Path.Combine(folder, "reference_batch.npz");
        var statistics = FeatureStatisticsFile.Load(stats);
        using (var writer = new NpzWriter(batch))
        {
            var d = statistics.Mean.Length;
            var sigma = new double[d * d];
            Buffer.BlockCopy(statistics.Covariance, 0, sigma, 0, sigma.Length * sizeof(double));
            writer.Write("arr_0", noise, 20, 8, 8, 3);
            writer.Write("mu", statistics.Mean, d);
            writer.Write("sigma", sigma, d, d);
        }
        (code, text) = ToolRunner.Run(TinyFixed.Definition, "evaluate", "--samples", half, "--reference", batch, "--inception-weights", weights,
            "--batch-size", "8");
        Assert.True(code == 0, text);
        Assert.Equal(halves, Fid(text));
        Assert.Contains("precision", text);

        (code, text) = ToolRunner.Run(TinyFixed.Definition, "evaluate", "--samples", noisePath, "--reference", stats, "--inception-weights", weights);
        Assert.True(code == 0, text);
        Assert.DoesNotContain("precision", text);
        var againstNoise = Fid(text);
        output.WriteLine($"FID(half, other half) = {halves}; FID(noise, data) = {againstNoise}");
        Assert.True(halves < againstNoise, $"FID(half, other half) = {halves} should be below FID(noise, data) = {againstNoise}");
    }

    [Fact]
    public void Missing_weights_are_named()
    {
        var missing = Path.Combine(folder, "no-weights.pt");
        var (code, text) = ToolRunner.Run(TinyFixed.Definition, "evaluate", "--samples", "x.npz", "--reference", "y", "--inception-weights", missing);
        Assert.Equal(1, code);
        Assert.Contains(missing, text);
    }

    [Fact]
    public void Existing_reference_statistics_are_kept_unless_asked_and_checked_before_the_work()
    {
        var stats = Path.Combine(folder, "stats.npz");
        File.WriteAllText(stats, "statistics of mine");
        // The weights do not exist either: the output is refused before anything is loaded.
        var (code, output, errors) = ToolRunner.RunSeparately(TinyFixed.Definition, "evaluate", "--samples", "x.npz", "--reference", "y",
            "--inception-weights", Path.Combine(folder, "no-weights.pt"), "--save-reference-stats", stats);
        Assert.Equal(1, code);
        Assert.Contains($"error: {stats} already exists; pass --overwrite to replace it, or choose another --save-reference-stats", errors, StringComparison.Ordinal);
        Assert.Equal("", output);
        Assert.Equal("statistics of mine", File.ReadAllText(stats));

        (code, _, errors) = ToolRunner.RunSeparately(TinyFixed.Definition, "evaluate", "--samples", "x.npz", "--reference", "y",
            "--inception-weights", Path.Combine(folder, "no-weights.pt"), "--save-reference-stats", Path.Combine(UnwritableFolder.Path, "stats.npz"));
        Assert.Equal(1, code);
        Assert.Contains($"error: --save-reference-stats: cannot write into {UnwritableFolder.Path}", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_samples_folder_is_named()
    {
        var weights = Path.Combine(folder, "inception.safetensors");
        using (var network = new FidInceptionV3()) Checkpoint.SaveStateDict(network, weights);
        var empty = Directory.CreateDirectory(Path.Combine(folder, "no-samples")).FullName;
        var (code, text) = ToolRunner.Run(TinyFixed.Definition, "evaluate", "--samples", empty, "--reference", "y", "--inception-weights", weights);
        Assert.Equal(1, code);
        Assert.Contains(empty, text);
        Assert.Contains("holds no images", text);
    }

    string SamplesOf(IEnumerable<string> pngs, string name)
    {
        var pixels = new List<byte>();
        var count = 0;
        foreach (var png in pngs)
        {
            using var image = Image.Load<Rgb24>(png);
            for (var y = 0; y < 8; y++)
                for (var x = 0; x < 8; x++) pixels.AddRange([image[x, y].R, image[x, y].G, image[x, y].B]);
            count++;
        }
        var path = Path.Combine(folder, name + ".npz");
        Npz.SaveSamples(path, pixels.ToArray(), [count, 8, 8, 3]);
        return path;
    }

    static double Fid(string output) =>
        double.Parse(output.Split('\n').Single(line => line.StartsWith("FID ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
}
