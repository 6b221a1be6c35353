using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Samplers;

/// <summary>
/// Data distributed as N(μ, s²·I), for which everything the samplers approximate is known in closed form.
/// With x_t = α_t·x_0 + σ_t·ε (α = √ᾱ, σ = √(1 − ᾱ)), x_t ~ N(α_t·μ, v_t·I) with v_t = ᾱ_t·s² + 1 − ᾱ_t, and
/// E[ε | x_t] = σ_t·(x_t − α_t·μ)/v_t: the exact noise prediction, which <see cref="Network"/> returns.
/// The probability-flow ODE carries the standardised coordinate z = (x_t − α_t·μ)/√v_t unchanged (substituting
/// x_t = α_t·μ + √v_t·z into dx/dt = −½β(x − (x − α_t·μ)/v_t) gives an identity, since dv/dt = −β·ᾱ·(s² − 1)), so
/// from x_T at t = T−1 the ODE reaches x_0 = α_0·μ + √v_0·z at t = 0, for any schedule; at ᾱ = 1 it would be μ + s·z.
/// </summary>
sealed class GaussianData(InterpolatedSchedule schedule, Tensor mean, double scale)
{
    public Tensor Mean { get; } = mean;
    public double Scale { get; } = scale;

    /// <summary>
    /// A network giving the exact ε at the time it receives (rescaled t·1000/T), with a second half of channels in the
    /// place of a learned variance: a constant v = 0.5 (a valid interpolation for ancestral sampling), which would throw
    /// any ODE sampler that read it as ε far off the exact endpoint.
    /// </summary>
    public IDiffusionNetwork Network(bool rescaled = true) => DiffusionNetwork.FromFunction((x, timesteps, _) =>
    {
        var times = timesteps.to(ScalarType.Float64).data<double>().ToArray();
        var alphaBar = times.Select(t => schedule.AlphaBar(rescaled ? t * schedule.NumTimesteps / 1000.0 : t)).ToArray();
        var a = tensor(alphaBar, dtype: ScalarType.Float64).view(-1, 1, 1, 1);
        var x64 = x.to(ScalarType.Float64);
        var variance = (a * Scale * Scale) + 1 - a;
        var eps = (1 - a).sqrt() * (x64 - (a.sqrt() * Mean.to(ScalarType.Float64))) / variance;
        return cat([eps.to(ScalarType.Float32), full_like(x, 0.5)], 1);
    });

    /// <summary>
    /// Where every sampler here converges: the ODE's solution at t = 0 followed by its exact x_0 prediction there,
    /// E[x_0 | x_t] = μ + α_0·s²·(x_t − α_0·μ)/v_0 = μ + α_0·s²·z/√v_0 (DDIM's last step, and the solvers' final one).
    /// It differs from μ + s·z, the endpoint at ᾱ = 1, by a factor 1 − O((1 − ᾱ_0)/s²) on s·z: 2·10⁻⁴ here.
    /// </summary>
    public Tensor Endpoint(Tensor xT)
    {
        var alphaT = schedule.Alpha(schedule.LastTime);
        var mean = Mean.to(ScalarType.Float64);
        var z = (xT.to(ScalarType.Float64) - (mean * alphaT)) / Math.Sqrt(Variance(schedule.LastTime));
        var alpha0 = schedule.Alpha(0);
        return mean + (z * (alpha0 * Scale * Scale / Math.Sqrt(Variance(0))));
    }

    double Variance(double t) => (schedule.AlphaBar(t) * Scale * Scale) + 1 - schedule.AlphaBar(t);
}
