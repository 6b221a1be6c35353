using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Likelihood helpers of the reference's <c>losses.py</c> and <c>nn.mean_flat</c>, in the tensors' own dtype
/// (float32 in practice), computed in the reference's operation order.
/// </summary>
public static class GaussianLosses
{
    static readonly double SqrtTwoOverPi = Math.Sqrt(2.0 / Math.PI);

    /// <summary>KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) element-wise, in nats (reference: <c>normal_kl</c>).</summary>
    public static Tensor NormalKl(Tensor mean1, Tensor logvar1, Tensor mean2, Tensor logvar2)
    {
        using var scope = NewDisposeScope();
        // 0.5·(−1 + logvar2 − logvar1 + exp(logvar1 − logvar2) + (mean1 − mean2)²·exp(−logvar2)), in that order.
        var kl = (logvar2.Plus(-1.0) - logvar1).Plus(exp(logvar1 - logvar2)).Plus((mean1 - mean2).Power(2) * exp(-logvar2)).Times(0.5);
        return kl.MoveToOuterDisposeScope();
    }

    /// <summary>KL against the standard normal N(0, 1), as the prior term uses it.</summary>
    public static Tensor NormalKlToStandard(Tensor mean1, Tensor logvar1)
    {
        using var scope = NewDisposeScope();
        var zero = zeros_like(mean1);
        return NormalKl(mean1, logvar1, zero, zero).MoveToOuterDisposeScope();
    }

    /// <summary>The tanh approximation of the standard normal CDF (reference: <c>approx_standard_normal_cdf</c>).</summary>
    public static Tensor ApproxStandardNormalCdf(Tensor x)
    {
        using var scope = NewDisposeScope();
        // 0.5·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        var cdf = ReferenceTanh(x.Plus(x.Power(3).Times(0.044715)).Times(SqrtTwoOverPi)).Plus(1.0).Times(0.5);
        return cdf.MoveToOuterDisposeScope();
    }

    /// <summary>Beyond this |x| the reference's float32 tanh (SLEEF's tanhf, PyTorch ≤ 1.13 on CPU) returns exactly ±1.</summary>
    const float TanhSaturation = 8.664339742f;

    /// <summary>
    /// tanh as the reference's PyTorch computes it in float32: correctly rounded, and exactly ±1 beyond |x| = 8.6643
    /// (SLEEF's cut-off; 12.5·ln 2, where 1 − tanh drops below 2⁻²⁴). libtorch 2.10's vectorised tanh rounds differently
    /// near ±1, and the tails of the discretised likelihood subtract two such values, so the difference would move a
    /// log-probability by whole nats (e.g. log(2⁻²⁵) against the 1e-12 clamp).
    /// </summary>
    static Tensor ReferenceTanh(Tensor x)
    {
        using var scope = NewDisposeScope();
        var rounded = tanh(x.to(ScalarType.Float64)).to(x.dtype);
        using var saturation = TanhSaturation.ToScalar();
        return where(x.abs().gt(saturation), x.sign(), rounded).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Log-likelihood (nats) of images <paramref name="x"/> (uint8 rescaled to [−1, 1]) under a Gaussian discretised
    /// to 256 bins; the edge bins at −1 and 1 extend to ∓∞ (reference: <c>discretized_gaussian_log_likelihood</c>).
    /// </summary>
    public static Tensor DiscretizedGaussianLogLikelihood(Tensor x, Tensor means, Tensor logScales)
    {
        if (!x.shape.SequenceEqual(means.shape) || !x.shape.SequenceEqual(logScales.shape))
            throw new ArgumentException($"x, means and log scales must have one shape; got [{string.Join(",", x.shape)}], [{string.Join(",", means.shape)}], [{string.Join(",", logScales.shape)}]");
        using var scope = NewDisposeScope();
        var centered = x - means;
        var invStdv = exp(-logScales);
        var cdfPlus = ApproxStandardNormalCdf(invStdv * centered.Plus(1.0 / 255.0));
        var cdfMin = ApproxStandardNormalCdf(invStdv * centered.Minus(1.0 / 255.0));
        var logCdfPlus = log(cdfPlus.ClampMin(1e-12));
        var logOneMinusCdfMin = log(cdfMin.SubtractedFrom(1.0).ClampMin(1e-12));
        var logCdfDelta = log((cdfPlus - cdfMin).ClampMin(1e-12));
        using var low = (-0.999).ToScalar();
        using var high = 0.999.ToScalar();
        var logProbs = where(x.lt(low), logCdfPlus, where(x.gt(high), logOneMinusCdfMin, logCdfDelta));
        return logProbs.MoveToOuterDisposeScope();
    }

    /// <summary>The mean over every dimension but the first (reference: <c>nn.mean_flat</c>).</summary>
    public static Tensor MeanFlat(Tensor tensor) =>
        tensor.mean(Enumerable.Range(1, (int)tensor.dim() - 1).Select(d => (long)d).ToArray());
}
