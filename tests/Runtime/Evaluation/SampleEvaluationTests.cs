using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary><see cref="SampleEvaluation"/> on sets too small for every metric (the full pipeline is in EndToEnd).</summary>
public sealed class SampleEvaluationTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-sample-evaluation-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Three_samples_get_fid_and_inception_score_and_a_reason_instead_of_precision_and_recall()
    {
        var reference = TrainingImages.Write(Path.Combine(folder, "reference"), 6, size: 8);
        var samples = Path.Combine(folder, "three.npz");
        var pixels = new byte[3 * 8 * 8 * 3];
        new Random(3).NextBytes(pixels);
        Npz.SaveSamples(samples, pixels, [3, 8, 8, 3]);
        using var network = new FidInceptionV3();

        var result = SampleEvaluation.Run(network, samples, reference);

        Assert.Equal(3, result.Samples);
        Assert.Equal(6, result.ReferenceImages);
        Assert.True(double.IsFinite(result.Fid));
        Assert.Null(result.PrecisionRecall);
        Assert.Contains(SampleEvaluation.Describe(result), line => line.Contains("need more than 3 images", StringComparison.Ordinal));
    }
}
