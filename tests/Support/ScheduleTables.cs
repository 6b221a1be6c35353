namespace ImprovedDdpm.Tests.Support;

/// <summary>The 13 tables of a <see cref="DiffusionTables"/> under the reference's names, and their comparison with a
/// schedule fixture.</summary>
static class ScheduleTables
{
    public static IReadOnlyList<(string Key, double[] Values)> ByReferenceName(DiffusionTables tables) =>
    [
        ("betas", tables.Betas),
        ("alphas_cumprod", tables.AlphasCumprod),
        ("alphas_cumprod_prev", tables.AlphasCumprodPrev),
        ("alphas_cumprod_next", tables.AlphasCumprodNext),
        ("sqrt_alphas_cumprod", tables.SqrtAlphasCumprod),
        ("sqrt_one_minus_alphas_cumprod", tables.SqrtOneMinusAlphasCumprod),
        ("log_one_minus_alphas_cumprod", tables.LogOneMinusAlphasCumprod),
        ("sqrt_recip_alphas_cumprod", tables.SqrtRecipAlphasCumprod),
        ("sqrt_recipm1_alphas_cumprod", tables.SqrtRecipm1AlphasCumprod),
        ("posterior_variance", tables.PosteriorVariance),
        ("posterior_log_variance_clipped", tables.PosteriorLogVarianceClipped),
        ("posterior_mean_coef1", tables.PosteriorMeanCoef1),
        ("posterior_mean_coef2", tables.PosteriorMeanCoef2),
    ];

    /// <summary>Every table of <paramref name="tables"/> is the fixture's, at the manifest's tolerance; no table is missing.</summary>
    public static void AssertMatchesReference(string fixture, DiffusionTables tables)
    {
        var reference = ReferenceFixtures.Tensors(fixture);
        var tolerance = ReferenceFixtures.ToleranceOf(fixture);
        var ours = ByReferenceName(tables);
        Assert.Equal(reference.Keys.Order(StringComparer.Ordinal), ours.Select(t => t.Key).Order(StringComparer.Ordinal));
        foreach (var (key, values) in ours)
            tolerance.AssertClose(reference[key].Values, values, $"{fixture}: {key}");
    }
}
