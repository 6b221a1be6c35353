namespace ImprovedDdpm;

/// <summary>
/// The float64 tables a Gaussian diffusion process derives from its betas, named as the reference's
/// <c>GaussianDiffusion.__init__</c> names them (PascalCase). Pure C#, shared with the source generator.
/// </summary>
public sealed class DiffusionTables
{
    public DiffusionTables(double[] betas)
    {
        if (betas is null) throw new ArgumentNullException(nameof(betas));
        // The reference reads posterior_variance[1] for t = 0 and fails (IndexError) on a one-step process.
        if (betas.Length < 2)
            throw new ArgumentException($"a diffusion process needs at least 2 steps, got {betas.Length}", nameof(betas));
        for (var i = 0; i < betas.Length; i++)
        {
            if (!(betas[i] > 0 && betas[i] <= 1))
                throw new ArgumentException($"beta[{i}] = {betas[i]} is outside (0, 1]", nameof(betas));
        }
        var n = betas.Length;
        Betas = (double[])betas.Clone();
        AlphasCumprod = new double[n];
        AlphasCumprodPrev = new double[n];
        AlphasCumprodNext = new double[n];
        SqrtAlphasCumprod = new double[n];
        SqrtOneMinusAlphasCumprod = new double[n];
        LogOneMinusAlphasCumprod = new double[n];
        SqrtRecipAlphasCumprod = new double[n];
        SqrtRecipm1AlphasCumprod = new double[n];
        PosteriorVariance = new double[n];
        PosteriorLogVarianceClipped = new double[n];
        PosteriorMeanCoef1 = new double[n];
        PosteriorMeanCoef2 = new double[n];

        var cumprod = 1.0;
        for (var i = 0; i < n; i++)
        {
            cumprod *= 1.0 - betas[i];
            AlphasCumprod[i] = cumprod;
        }
        for (var i = 0; i < n; i++)
        {
            var alphaBar = AlphasCumprod[i];
            var alphaBarPrev = i == 0 ? 1.0 : AlphasCumprod[i - 1];
            AlphasCumprodPrev[i] = alphaBarPrev;
            AlphasCumprodNext[i] = i == n - 1 ? 0.0 : AlphasCumprod[i + 1];
            SqrtAlphasCumprod[i] = Math.Sqrt(alphaBar);
            SqrtOneMinusAlphasCumprod[i] = Math.Sqrt(1.0 - alphaBar);
            LogOneMinusAlphasCumprod[i] = Math.Log(1.0 - alphaBar);
            SqrtRecipAlphasCumprod[i] = Math.Sqrt(1.0 / alphaBar);
            SqrtRecipm1AlphasCumprod[i] = Math.Sqrt(1.0 / alphaBar - 1);
            PosteriorVariance[i] = betas[i] * (1.0 - alphaBarPrev) / (1.0 - alphaBar);
            PosteriorMeanCoef1[i] = betas[i] * Math.Sqrt(alphaBarPrev) / (1.0 - alphaBar);
            PosteriorMeanCoef2[i] = (1.0 - alphaBarPrev) * Math.Sqrt(1.0 - betas[i]) / (1.0 - alphaBar);
        }
        // The posterior variance is 0 at t = 0, so the clipped log repeats t = 1's value there.
        for (var i = 0; i < n; i++)
            PosteriorLogVarianceClipped[i] = Math.Log(i == 0 ? PosteriorVariance[1] : PosteriorVariance[i]);
    }

    /// <summary>
    /// Tables computed elsewhere, taken as they are (the generator's compile-time constants). Every array must have the
    /// same length, at least 2; the arrays are kept, not copied.
    /// </summary>
    public static DiffusionTables FromTables(double[] betas, double[] alphasCumprod, double[] alphasCumprodPrev,
        double[] alphasCumprodNext, double[] sqrtAlphasCumprod, double[] sqrtOneMinusAlphasCumprod,
        double[] logOneMinusAlphasCumprod, double[] sqrtRecipAlphasCumprod, double[] sqrtRecipm1AlphasCumprod,
        double[] posteriorVariance, double[] posteriorLogVarianceClipped, double[] posteriorMeanCoef1,
        double[] posteriorMeanCoef2)
    {
        var all = new[]
        {
            betas, alphasCumprod, alphasCumprodPrev, alphasCumprodNext, sqrtAlphasCumprod, sqrtOneMinusAlphasCumprod,
            logOneMinusAlphasCumprod, sqrtRecipAlphasCumprod, sqrtRecipm1AlphasCumprod, posteriorVariance,
            posteriorLogVarianceClipped, posteriorMeanCoef1, posteriorMeanCoef2,
        };
        if (betas is null || betas.Length < 2 || all.Any(table => table is null || table.Length != betas.Length))
            throw new ArgumentException("every table must be given, with the same length of at least 2", nameof(betas));
        return new DiffusionTables(all);
    }

    DiffusionTables(double[][] all)
    {
        Betas = all[0];
        AlphasCumprod = all[1];
        AlphasCumprodPrev = all[2];
        AlphasCumprodNext = all[3];
        SqrtAlphasCumprod = all[4];
        SqrtOneMinusAlphasCumprod = all[5];
        LogOneMinusAlphasCumprod = all[6];
        SqrtRecipAlphasCumprod = all[7];
        SqrtRecipm1AlphasCumprod = all[8];
        PosteriorVariance = all[9];
        PosteriorLogVarianceClipped = all[10];
        PosteriorMeanCoef1 = all[11];
        PosteriorMeanCoef2 = all[12];
    }

    public int NumTimesteps => Betas.Length;

    public double[] Betas { get; }
    public double[] AlphasCumprod { get; }
    public double[] AlphasCumprodPrev { get; }
    public double[] AlphasCumprodNext { get; }
    public double[] SqrtAlphasCumprod { get; }
    public double[] SqrtOneMinusAlphasCumprod { get; }
    public double[] LogOneMinusAlphasCumprod { get; }
    public double[] SqrtRecipAlphasCumprod { get; }
    public double[] SqrtRecipm1AlphasCumprod { get; }
    public double[] PosteriorVariance { get; }
    public double[] PosteriorLogVarianceClipped { get; }
    public double[] PosteriorMeanCoef1 { get; }
    public double[] PosteriorMeanCoef2 { get; }
}
