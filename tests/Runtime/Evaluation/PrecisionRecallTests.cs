using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>Improved precision and recall (k = 3) against guided-diffusion's ManifoldEstimator logic run by NumPy.</summary>
public sealed class PrecisionRecallTests
{
    const string File = "precision_recall.npz";

    [Theory]
    [InlineData(PrecisionRecall.DefaultBatchSize)]
    [InlineData(64)] // several row and column blocks, the last one partial
    [InlineData(2)]  // blocks narrower than k + 1, so the running k + 1 nearest are built across blocks
    public void Matches_numpy_exactly_whatever_the_block_size(int batchSize)
    {
        var fixture = MetricFixtures.Read(File);
        // Every inside/outside decision in the fixture is at least min_relative_margin (≈ 3e-6) away from flipping,
        // far above float64 rounding of the |a|² − 2ab + |b|² expansion (≈ 1e-15 relative), so the fractions must
        // agree exactly; the radii, being the same sums in another order, to 1e-12 relative.
        Assert.True(fixture.Scalar("min_relative_margin") > 1e-9);
        var result = PrecisionRecall.Compute(fixture.Matrix("real"), fixture.Matrix("generated"), batchSize: batchSize);
        Assert.Equal(fixture.Scalar("precision"), result.Precision);
        Assert.Equal(fixture.Scalar("recall"), result.Recall);

        using var scope = NewDisposeScope();
        var radii = PrecisionRecall.Radii(tensor(fixture.Matrix("real")), batchSize: batchSize).data<double>().ToArray();
        var expected = fixture["radii_real"].Values;
        Assert.Equal(expected.Length, radii.Length);
        for (var i = 0; i < radii.Length; i++)
            Assert.True(Math.Abs(radii[i] - expected[i]) <= 1e-12 * expected[i], $"radius {i}: {radii[i]:R}, reference {expected[i]:R}");
    }

    [Fact]
    public void Float32_features_give_the_same_decisions()
    {
        var fixture = MetricFixtures.Read(File);
        using var scope = NewDisposeScope();
        var real = tensor(fixture.Matrix("real")).to_type(ScalarType.Float32);
        var generated = tensor(fixture.Matrix("generated")).to_type(ScalarType.Float32);
        var result = PrecisionRecall.Compute(real, generated);
        Assert.Equal(fixture.Scalar("precision"), result.Precision);
        Assert.Equal(fixture.Scalar("recall"), result.Recall);
    }

    [Fact]
    public void Identical_sets_have_precision_and_recall_one()
    {
        var features = RandomFeatures(40, 8, seed: 1, offset: 0);
        Assert.Equal(new PrecisionRecallResult(1, 1), PrecisionRecall.Compute(features, features, batchSize: 16));
    }

    [Fact]
    public void Disjoint_sets_have_precision_and_recall_zero()
    {
        var real = RandomFeatures(30, 4, seed: 2, offset: 0);
        var generated = RandomFeatures(30, 4, seed: 3, offset: 100);
        Assert.Equal(new PrecisionRecallResult(0, 0), PrecisionRecall.Compute(real, generated));
    }

    [Fact]
    public void A_radius_is_the_distance_to_the_third_neighbour_not_counting_the_point()
    {
        // Points on a line at 0, 1, 3, 6, 10: squared distances from 0 are 0, 1, 9, 36, 100, so its radius is 36.
        double[,] line = { { 0 }, { 1 }, { 3 }, { 6 }, { 10 } };
        using var scope = NewDisposeScope();
        Assert.Equal([36.0, 25, 9, 25, 81], PrecisionRecall.Radii(tensor(line), batchSize: 2).data<double>().ToArray());
        Assert.Throws<ArgumentException>(() => PrecisionRecall.Radii(tensor(new double[3, 2])));
    }

    static double[,] RandomFeatures(int n, int d, int seed, double offset)
    {
        var random = new Random(seed);
        var features = new double[n, d];
        for (var i = 0; i < n; i++) for (var j = 0; j < d; j++) features[i, j] = offset + random.NextDouble();
        return features;
    }
}
