using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>frechet_distance: statistics and distance of two feature sets, computed with NumPy/SciPy.</summary>
public sealed class FrechetDistanceTests
{
    const string File = "frechet_distance.safetensors";

    [Fact]
    public void Statistics_and_distance_match_numpy_and_scipy()
    {
        var reference = ReferenceFixtures.Tensors(File);
        var tolerance = ReferenceFixtures.ToleranceOf(File);
        var a = FeatureStatistics.FromFeatures(Matrix(reference["features_a"]));
        var b = FeatureStatistics.FromFeatures(Matrix(reference["features_b"]));
        tolerance.AssertClose(reference["mu_a"].Values, a.Mean, "mu_a");
        tolerance.AssertClose(reference["mu_b"].Values, b.Mean, "mu_b");
        tolerance.AssertClose(reference["sigma_a"].Values, a.Covariance.Cast<double>().ToArray(), "sigma_a");
        tolerance.AssertClose(reference["sigma_b"].Values, b.Covariance.Cast<double>().ToArray(), "sigma_b");
        tolerance.AssertClose(reference["fid"].Values, [FrechetDistance.Compute(a, b)], "fid");
    }

    [Fact]
    public void A_set_is_at_distance_zero_from_itself_and_the_distance_is_symmetric()
    {
        var reference = ReferenceFixtures.Tensors(File);
        var a = FeatureStatistics.FromFeatures(Matrix(reference["features_a"]));
        var b = FeatureStatistics.FromFeatures(Matrix(reference["features_b"]));
        Assert.InRange(FrechetDistance.Compute(a, a), -1e-9, 1e-9);
        Assert.Equal(FrechetDistance.Compute(a, b), FrechetDistance.Compute(b, a), 1e-9);
    }

    [Fact]
    public void Fewer_samples_than_dimensions_still_give_a_finite_distance()
    {
        var random = new Random(2);
        var features = new double[5, 32];
        for (var i = 0; i < 5; i++) for (var j = 0; j < 32; j++) features[i, j] = random.NextDouble();
        var rankDeficient = FeatureStatistics.FromFeatures(features);
        var d = FrechetDistance.Compute(rankDeficient, FeatureStatistics.FromFeatures(Matrix(ReferenceFixtures.Tensors(File)["features_a"])));
        Assert.True(double.IsFinite(d) && d > 0, $"distance {d}");
    }

    static double[,] Matrix(FixtureTensor t)
    {
        var (rows, cols) = ((int)t.Shape[0], (int)t.Shape[1]);
        var m = new double[rows, cols];
        Buffer.BlockCopy(t.Values, 0, m, 0, t.Values.Length * sizeof(double));
        return m;
    }

    [Fact]
    public void Float32_features_in_blocks_give_the_statistics_of_their_float64_copy()
    {
        // 5000 rows: three blocks of the float32 overload, the last partial, against one float64 matrix product.
        const int n = 5000, d = 12;
        var random = new Random(7);
        var single = new float[n * d];
        for (var i = 0; i < single.Length; i++) single[i] = (float)(random.NextDouble() * 3 + i % d);
        var wide = new double[n, d];
        for (var i = 0; i < n; i++) for (var j = 0; j < d; j++) wide[i, j] = single[i * d + j];
        var blocked = FeatureStatistics.FromFeatures(single, d);
        var whole = FeatureStatistics.FromFeatures(wide);
        for (var j = 0; j < d; j++)
        {
            Assert.Equal(whole.Mean[j], blocked.Mean[j], 1e-12 * Math.Abs(whole.Mean[j]));
            for (var k = 0; k < d; k++) Assert.Equal(whole.Covariance[j, k], blocked.Covariance[j, k], 1e-12 * Math.Abs(whole.Covariance[j, j]));
        }
    }
}
