using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The reference's <c>nn.timestep_embedding</c>: sinusoidal features of the timesteps the network receives.
/// </summary>
public static class TimestepEmbedding
{
    /// <summary>The reference's <c>max_period</c>: the slowest frequency is 1/10000.</summary>
    public const double DefaultMaxPeriod = 10000;

    /// <summary>
    /// [cos(t·f_0) … cos(t·f_{h−1}) | sin(t·f_0) … sin(t·f_{h−1})] with h = dim / 2 and f_i = exp(−ln(maxPeriod)·i/h),
    /// cos first; an odd <paramref name="dim"/> gets a trailing zero column. Computed in float32 like the reference.
    /// </summary>
    /// <param name="timesteps">A 1-D tensor of N timesteps of any numeric dtype; they may be fractional
    /// (the rescaled t·1000/T the diffusion passes).</param>
    /// <param name="dim">The embedding width.</param>
    /// <param name="maxPeriod">The period of the slowest component.</param>
    /// <returns>An [N, dim] float32 tensor on the timesteps' device.</returns>
    public static Tensor Sinusoidal(Tensor timesteps, long dim, double maxPeriod = DefaultMaxPeriod)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        if (timesteps.dim() != 1)
            throw new ArgumentException($"timesteps must be 1-D [N]; got shape [{string.Join(",", timesteps.shape)}]", nameof(timesteps));
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);

        using var scope = NewDisposeScope();
        var half = dim / 2;
        using var start = 0.ToScalar();
        using var stop = half.ToScalar();
        using var step = 1.ToScalar();
        using var logMaxPeriod = (-Math.Log(maxPeriod)).ToScalar();
        var freqs = arange(start, stop, step, dtype: ScalarType.Float32, device: timesteps.device)
            .mul(logMaxPeriod)
            .div(stop)
            .exp();
        var args = timesteps.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        var embedding = cat([cos(args), sin(args)], -1);
        if (dim % 2 == 1)
            embedding = cat([embedding, zeros(timesteps.shape[0], 1, dtype: ScalarType.Float32, device: timesteps.device)], -1);
        return embedding.MoveToOuterDisposeScope();
    }
}
