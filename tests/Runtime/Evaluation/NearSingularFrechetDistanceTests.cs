namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>
/// FID with fewer samples than dimensions (20 × 64-D, covariances of rank 19), against pytorch-fid's SciPy
/// <c>sqrtm</c> route and against the same symmetric eigen route in NumPy.
/// </summary>
public sealed class NearSingularFrechetDistanceTests
{
    const string File = "fid_near_singular.npz";

    [Fact]
    public void Statistics_match_numpy()
    {
        var fixture = MetricFixtures.Read(File);
        var a = FeatureStatistics.FromFeatures(fixture.Matrix("features_a"));
        AssertClose(fixture["mu_a"].Values, a.Mean, 1e-12, "mu_a");
        AssertClose(fixture["sigma_a"].Values, a.Covariance.Cast<double>().ToArray(), 1e-12, "sigma_a");
    }

    [Fact]
    public void Agrees_with_scipy_sqrtm_and_numpy_eigh_to_the_null_space_noise_floor()
    {
        var fixture = MetricFixtures.Read(File);
        var a = FeatureStatistics.FromFeatures(fixture.Matrix("features_a"));
        var b = FeatureStatistics.FromFeatures(fixture.Matrix("features_b"));
        var fid = FrechetDistance.Compute(a, b);

        // With rank-19 covariances in 64-D, 45 eigenvalues of Σ₁^½Σ₂Σ₁^½ are truly 0 but come out of any float64
        // eigensolver as rounding noise of order eps·λmax ≈ 1e-15, and the trace takes their square roots (≈ 3e-8
        // each). That noise, fid_null_space_noise ≈ 5e-7 in NumPy, is the accuracy floor of every route: ours, NumPy's
        // eigh and SciPy's sqrtm each land within a few times 1e-6 of the value with the null space dropped, and so of
        // each other. Measured on ≈ 68.16: ours − null-dropped ≈ −6.6e-7, ours − NumPy eigh ≈ +4.1e-7, ours − SciPy ≈
        // +1.1e-6 (1.6e-8 relative). 1e-7 relative (≈ 7e-6 here) allows that floor with margin; a real error in the
        // formula (a missing term, a wrong square root) would be off by far more.
        var noise = fixture.Scalar("fid_null_space_noise");
        Assert.InRange(noise, 1e-8, 1e-5);
        AssertClose([fixture.Scalar("fid_eigh_null_dropped")], [fid], 1e-7, "fid vs NumPy eigh, null space dropped");
        AssertClose([fixture.Scalar("fid_eigh")], [fid], 1e-7, "fid vs NumPy eigh");

        // pytorch-fid's route: SciPy's sqrtm (a Schur method) of the singular, non-symmetric product Σ₁Σ₂ stayed
        // finite, so no eps·I was added; its diagonal carried an imaginary part ≈ 9e-7, which pytorch-fid drops.
        Assert.Equal(0, fixture.Scalar("fid_scipy_used_eps"));
        Assert.True(fixture.Scalar("fid_scipy_max_imaginary") < 1e-5);
        AssertClose([fixture.Scalar("fid_scipy")], [fid], 1e-7, "fid vs pytorch-fid (SciPy sqrtm)");

        // Had pytorch-fid taken its fallback, eps = 1e-6 on both diagonals would have moved FID by ≈ 9e-4 (1.4e-5
        // relative) here: a change of definition, which ours never needs since the eigen route cannot go non-finite.
        var withEps = fixture.Scalar("fid_scipy_with_eps");
        Assert.InRange(Math.Abs(withEps - fid) / fid, 1e-6, 1e-4);
    }

    static void AssertClose(double[] expected, double[] actual, double relative, string quantity)
    {
        Assert.Equal(expected.Length, actual.Length);
        var scale = expected.Max(Math.Abs);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= relative * scale,
                $"{quantity} [{i}]: {actual[i]:R}, reference {expected[i]:R} (allowed {relative} × {scale})");
    }
}
