namespace ImprovedDdpm;

/// <summary>
/// A cache of <see cref="FeatureStatistics"/> as an <c>.npz</c> with float64 arrays <c>mu</c> [D] and <c>sigma</c> [D, D],
/// the layout pytorch-fid's <c>--save-stats</c> and guided-diffusion's reference batches use, so either can be read and
/// ours read by them.
/// </summary>
public static class FeatureStatisticsFile
{
    /// <summary>Writes <c>mu</c> and <c>sigma</c> (uncompressed, as <c>np.savez</c>), replacing <paramref name="path"/>.</summary>
    public static void Save(FeatureStatistics statistics, string path)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        var d = statistics.Mean.Length;
        if (statistics.Covariance.GetLength(0) != d || statistics.Covariance.GetLength(1) != d)
            throw new ArgumentException(
                $"the covariance is {statistics.Covariance.GetLength(0)}×{statistics.Covariance.GetLength(1)} for a mean of {d}", nameof(statistics));
        var sigma = new double[d * d];
        Buffer.BlockCopy(statistics.Covariance, 0, sigma, 0, sigma.Length * sizeof(double));
        using var writer = new NpzWriter(path);
        writer.Write("mu", statistics.Mean, d);
        writer.Write("sigma", sigma, d, d);
    }

    /// <summary>Reads <c>mu</c> and <c>sigma</c> (compressed archives too); other arrays in the file are ignored.</summary>
    /// <exception cref="DataException">No such arrays, not float64, or shapes that are not [D] and [D, D].</exception>
    public static FeatureStatistics Load(string path)
    {
        using var npz = new NpzReader(path);
        var mu = npz.ReadFloat64("mu", out var muHeader);
        var sigma = npz.ReadFloat64("sigma", out var sigmaHeader);
        var d = mu.Length;
        if (muHeader.Shape.Length != 1 || sigmaHeader.Shape is not [var rows, var cols] || rows != d || cols != d)
            throw new DataException(path, $"{path}: mu is {muHeader.ShapeText} and sigma {sigmaHeader.ShapeText}; (D,) and (D, D) were expected");
        var covariance = new double[d, d];
        Buffer.BlockCopy(sigma, 0, covariance, 0, sigma.Length * sizeof(double));
        return new FeatureStatistics(mu, covariance);
    }
}
