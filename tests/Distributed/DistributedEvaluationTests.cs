using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static ImprovedDdpm.Tests.Support.MpiRun;

namespace ImprovedDdpm.Tests.Distributed;

/// <summary>
/// <c>evaluate</c> under <c>mpiexec -n 2</c>, with a randomly initialised FID Inception network (the real weights cannot
/// be downloaded here) on a few 8×8 images: the ranks split the Inception batches, and the measures are those of one
/// process to the bit.
/// </summary>
public sealed class DistributedEvaluationTests(ITestOutputHelper output) : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-mpi-evaluate-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [MpiFact]
    public void Evaluate_over_two_ranks_gives_what_one_process_gives()
    {
        var weights = Path.Combine(folder, "inception.safetensors");
        using (var network = new FidInceptionV3())
        {
            // Default initialisation shrinks the signal about √6 times per convolution (weights of variance
            // 1/(3·fan_in), then ReLU), so the features come out near 0 (FID ~1e-13). Batch norm scales of √6 keep it
            // at its size through the layers: features that differ between images (FID 6.08 here, precision and
            // recall 1; the Inception Score is 1: 7 samples make 7 splits of one image).
            using var gain = Math.Sqrt(6).ToScalar();
            using (TorchSharp.torch.no_grad())
            {
                foreach (var (name, parameter) in network.named_parameters())
                    if (name.EndsWith("bn.weight", StringComparison.Ordinal)) parameter.fill_(gain);
            }
            Checkpoint.SaveStateDict(network, weights);
        }
        // 7 samples in batches of 3 (3, 3, 1) and 5 reference images (3, 2): rank 0 computes batches 0 and 2 of the
        // samples, rank 1 batch 1 and nothing in the second round. Samples and reference are images of one kind (other
        // seeds), so precision and recall are not 0. (Each image costs a 299×299 Inception pass: keep them few.)
        var samples = Path.Combine(folder, "samples.npz");
        var pixels = new List<byte>();
        foreach (var png in Directory.GetFiles(TrainingImages.Write(Path.Combine(folder, "samples"), 7, size: 8, seed: 2)).Order(StringComparer.Ordinal))
        {
            using var image = Image.Load<Rgb24>(png);
            for (var y = 0; y < 8; y++)
                for (var x = 0; x < 8; x++) pixels.AddRange([image[x, y].R, image[x, y].G, image[x, y].B]);
        }
        Npz.SaveSamples(samples, pixels.ToArray(), [7, 8, 8, 3]);
        var reference = TrainingImages.Write(Path.Combine(folder, "reference"), 5, size: 8);
        string[] Library(string statistics) => ["evaluate", samples, reference, weights, "3", Path.Combine(folder, statistics)];

        // Through the library, round-trip formatted: every number equal, on both ranks. Each batch is computed by one
        // rank exactly as one process computes it (the same batch, one libtorch thread each), and the features are
        // gathered in batch order before any arithmetic across images, so there is no summation order to tolerate.
        string alone;
        using (var process = StartAlone(variables => variables["OMP_NUM_THREADS"] = "1", Library("one.npz")))
            alone = Results(process.AssertSucceeds(Deadline))[0]["evaluation"];
        Dictionary<int, Dictionary<string, string>> together;
        using (var job = Start(2, Library("two.npz")))
            together = Results(job.AssertSucceeds(Deadline));
        output.WriteLine($"samples, reference images, FID, IS mean, IS std, precision, recall: {alone} (1 process)");
        Assert.Equal(7, Numbers(alone)[0]);
        Assert.Equal(5, Numbers(alone)[1]);
        Assert.DoesNotContain("NaN", alone, StringComparison.Ordinal); // precision and recall computed (more than 3 per set)
        Assert.Equal(alone, together[0]["evaluation"]);
        Assert.Equal(alone, together[1]["evaluation"]); // rank 1 returns rank 0's result
        AssertSameStatistics(Path.Combine(folder, "one.npz"), Path.Combine(folder, "two.npz"));

        // The command: rank 0 alone prints the measures and writes the statistics, as one process would.
        var statistics = Path.Combine(folder, "cli.npz");
        using (var job = Start(2, "tool", "evaluate", "--samples", samples, "--reference", reference, "--inception-weights", weights,
            "--batch-size", "3", "--save-reference-stats", statistics))
        {
            var text = job.AssertSucceeds(Deadline);
            var numbers = Numbers(alone);
            var expected = SampleEvaluation.Describe(new SampleEvaluationResult(7, 5, numbers[2], new InceptionScoreResult(numbers[3], numbers[4]),
                new PrecisionRecallResult(numbers[5], numbers[6]))).ToList();
            foreach (var line in expected) Assert.Single(text.Split('\n'), printed => printed.Trim() == line);
            Assert.DoesNotContain("rank 1", text, StringComparison.Ordinal);
        }
        AssertSameStatistics(Path.Combine(folder, "one.npz"), statistics);
    }

    static void AssertSameStatistics(string expected, string actual)
    {
        var (a, b) = (FeatureStatisticsFile.Load(expected), FeatureStatisticsFile.Load(actual));
        Assert.Equal(a.Mean, b.Mean);
        Assert.Equal(a.Covariance.Cast<double>(), b.Covariance.Cast<double>());
    }
}
