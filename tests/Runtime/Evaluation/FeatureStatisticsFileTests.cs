using ImprovedDdpm.Tests.Runtime.Data;

namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>The mu/sigma .npz cache, as pytorch-fid and guided-diffusion's reference batches store statistics.</summary>
public sealed class FeatureStatisticsFileTests
{
    [Fact]
    public void Reads_statistics_pytorch_fid_saved_compressed()
    {
        var fixture = MetricFixtures.Read("statistics_pytorch_fid.npz");
        var statistics = FeatureStatisticsFile.Load(MetricFixtures.PathOf("statistics_pytorch_fid.npz"));
        Assert.Equal(fixture["mu"].Values, statistics.Mean);
        Assert.Equal(fixture["sigma"].Values, statistics.Covariance.Cast<double>());
        Assert.Equal([8L, 8], fixture["sigma"].Shape);
    }

    [Fact]
    public void Round_trips_bit_for_bit_with_float64_mu_and_sigma()
    {
        using var temp = new TempFolder();
        var path = temp.File("reference_stats.npz");
        var statistics = new FeatureStatistics([0.1, -2.5, 1e-300], new double[,] { { 1, 0.5, 0 }, { 0.5, 2, 1e-17 }, { 0, 1e-17, 3 } });
        FeatureStatisticsFile.Save(statistics, path);
        using (var npz = new NpzReader(path))
        {
            Assert.Equal(["mu", "sigma"], npz.Names);
            Assert.Equal(("<f8", "(3,)"), (npz.Header("mu").Descr, npz.Header("mu").ShapeText));
            Assert.Equal(("<f8", "(3, 3)"), (npz.Header("sigma").Descr, npz.Header("sigma").ShapeText));
        }
        var loaded = FeatureStatisticsFile.Load(path);
        Assert.Equal(statistics.Mean, loaded.Mean);
        Assert.Equal(statistics.Covariance, loaded.Covariance);
        Assert.Equal(0, FrechetDistance.Compute(statistics, loaded), 1e-12);
    }

    [Fact]
    public void Rejects_mismatched_shapes()
    {
        using var temp = new TempFolder();
        var path = temp.File("bad.npz");
        using (var writer = new NpzWriter(path))
        {
            writer.Write("mu", new double[3], 3);
            writer.Write("sigma", new double[4], 2, 2);
        }
        var e = Assert.Throws<DataException>(() => FeatureStatisticsFile.Load(path));
        Assert.Contains("mu is (3,) and sigma (2, 2)", e.Message);
    }
}
