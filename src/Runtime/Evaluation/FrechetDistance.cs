using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>Mean and covariance of a set of feature vectors (the Gaussian FID fits), in float64.</summary>
public sealed record FeatureStatistics(double[] Mean, double[,] Covariance)
{
    /// <summary>From features [N, D]: the mean and the unbiased covariance (N − 1), as <c>np.cov(rowvar=False)</c>.</summary>
    public static FeatureStatistics FromFeatures(double[,] features)
    {
        using var scope = NewDisposeScope();
        var x = tensor(features, ScalarType.Float64);
        var mean = x.mean([0]);
        var centered = x - mean;
        // Held: an implicit Scalar can be finalized mid-call (dotnet/TorchSharp#1434).
        using var degreesOfFreedom = ((double)(x.shape[0] - 1)).ToScalar();
        var covariance = centered.T.matmul(centered).div_(degreesOfFreedom);
        return new FeatureStatistics(mean.data<double>().ToArray(), ToMatrix(covariance));
    }

    /// <summary>
    /// From float32 features, row-major [N, <paramref name="dimension"/>] (as the Inception network gives them): the
    /// same statistics, accumulated in float64 a block of rows at a time, so no float64 copy of all N rows is made.
    /// </summary>
    public static FeatureStatistics FromFeatures(float[] features, int dimension)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (dimension < 1 || features.Length % dimension != 0 || features.Length / dimension < 2)
            throw new ArgumentException($"{features.Length} values are not two or more rows of {dimension}", nameof(features));
        const int rowsPerBlock = 2048;
        var n = features.Length / dimension;
        using var scope = NewDisposeScope();
        Tensor Rows(int start) =>
            tensor(features.AsSpan(start * dimension, Math.Min(rowsPerBlock, n - start) * dimension).ToArray(), [Math.Min(rowsPerBlock, n - start), dimension])
                .to_type(ScalarType.Float64);
        var sum = zeros(dimension, ScalarType.Float64);
        for (var start = 0; start < n; start += rowsPerBlock)
        {
            using var blockScope = NewDisposeScope();
            sum.PlusInPlace(Rows(start).sum([0L]));
        }
        using var count = ((double)n).ToScalar();
        var mean = sum.div(count);
        // Centred before the products, as np.cov centres before its matrix product.
        var scatter = zeros(dimension, dimension, ScalarType.Float64);
        for (var start = 0; start < n; start += rowsPerBlock)
        {
            using var blockScope = NewDisposeScope();
            var centered = Rows(start) - mean;
            scatter.PlusInPlace(centered.T.matmul(centered));
        }
        using var degreesOfFreedom = ((double)(n - 1)).ToScalar();
        return new FeatureStatistics(mean.data<double>().ToArray(), ToMatrix(scatter.div_(degreesOfFreedom)));
    }

    internal static double[,] ToMatrix(Tensor square)
    {
        var n = (int)square.shape[0];
        var values = square.contiguous().data<double>().ToArray();
        var matrix = new double[n, n];
        Buffer.BlockCopy(values, 0, matrix, 0, values.Length * sizeof(double));
        return matrix;
    }
}

/// <summary>
/// The Fréchet distance between two Gaussians, d² = |μ₁ − μ₂|² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr((Σ₁Σ₂)^½), the formula of FID.
/// </summary>
public static class FrechetDistance
{
    /// <summary>
    /// Computed in float64. Tr((Σ₁Σ₂)^½) is the sum of square roots of the eigenvalues of Σ₁^½ Σ₂ Σ₁^½, which is
    /// symmetric positive semi-definite, so symmetric eigensolvers suffice and tiny negative eigenvalues from rounding
    /// are clamped to 0 — the same trace SciPy's sqrtm gives, without its complex detour. Near-singular covariances
    /// (fewer samples than dimensions) stay finite for the same reason.
    /// </summary>
    public static double Compute(FeatureStatistics a, FeatureStatistics b)
    {
        if (a.Mean.Length != b.Mean.Length)
            throw new ArgumentException($"feature dimensions differ: {a.Mean.Length} and {b.Mean.Length}");
        using var scope = NewDisposeScope();
        var mu1 = tensor(a.Mean, ScalarType.Float64);
        var mu2 = tensor(b.Mean, ScalarType.Float64);
        var sigma1 = tensor(a.Covariance, ScalarType.Float64);
        var sigma2 = tensor(b.Covariance, ScalarType.Float64);
        var traceSqrtProduct = TraceSqrtOfProduct(sigma1, sigma2);
        var diff = mu1 - mu2;
        return diff.dot(diff).item<double>() + sigma1.trace().item<double>() + sigma2.trace().item<double>() - 2 * traceSqrtProduct;
    }

    static double TraceSqrtOfProduct(Tensor sigma1, Tensor sigma2)
    {
        var (values1, vectors1) = linalg.eigh(Symmetrize(sigma1));
        var sqrt1 = vectors1.matmul(diag(values1.ClampMin(0).sqrt())).matmul(vectors1.T);
        var inner = Symmetrize(sqrt1.matmul(sigma2).matmul(sqrt1));
        var eigenvalues = linalg.eigvalsh(inner);
        return eigenvalues.ClampMin(0).sqrt().sum().item<double>();
    }

    static Tensor Symmetrize(Tensor m) => m.Plus(m.T).DividedBy(2);
}
