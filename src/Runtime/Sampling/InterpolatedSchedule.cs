namespace ImprovedDdpm;

/// <summary>
/// A discrete-time model's noise schedule at fractional timesteps, for the ODE samplers (<see cref="DiffusionSamplers"/>).
/// The model was trained at t = 0 … T−1 only, where x_t = α_t·x_0 + σ_t·ε with α_t = √ᾱ_t and σ_t = √(1 − ᾱ_t).
/// Between two training timesteps, log α_t is interpolated linearly in t: the choice of DPM-Solver's
/// <c>NoiseScheduleVP('discrete')</c> (Lu et al. 2022), the standard one for discrete-time models. It reproduces the
/// tables exactly at integer t, keeps ᾱ strictly decreasing (so every noise level has one time, see
/// <see cref="TimeOfLogAlpha"/>), and log α is the quantity the solvers work with (λ = log α − log σ).
/// Unlike DPM-Solver's class, the top of the schedule is not clipped (it drops the last steps of the cosine schedule,
/// where λ falls below −5.1): every sampler here starts at t = T−1, as DDIM and ancestral sampling do, so that all of
/// them integrate the same ODE from the same x_T and can be compared with DDIM over all T steps.
/// Time here is the original timestep index (0 … T−1), not DPM-Solver's (t + 1)/T.
/// </summary>
public sealed class InterpolatedSchedule
{
    readonly double[] logAlpha;

    /// <param name="tables">The tables of the full process the network was trained on (not a respaced one).</param>
    public InterpolatedSchedule(DiffusionTables tables)
    {
        ArgumentNullException.ThrowIfNull(tables);
        logAlpha = new double[tables.NumTimesteps];
        for (var k = 0; k < logAlpha.Length; k++)
        {
            logAlpha[k] = 0.5 * Math.Log(tables.AlphasCumprod[k]);
            if (k > 0 && !(logAlpha[k] < logAlpha[k - 1]))
                throw new ArgumentException($"ᾱ must decrease strictly with t to be interpolated; ᾱ[{k}] = {tables.AlphasCumprod[k]} follows ᾱ[{k - 1}] = {tables.AlphasCumprod[k - 1]}", nameof(tables));
        }
    }

    /// <summary>T: the model's training timesteps; time runs over [0, T−1].</summary>
    public int NumTimesteps => logAlpha.Length;

    /// <summary>The last training timestep, T−1, where sampling starts.</summary>
    public double LastTime => logAlpha.Length - 1;

    /// <summary>log α_t = ½·log ᾱ_t, linear between integer t.</summary>
    public double LogAlpha(double t)
    {
        RequireInRange(t);
        var k = (int)Math.Floor(t);
        if (k >= logAlpha.Length - 1) return logAlpha[^1];
        var fraction = t - k;
        return fraction == 0 ? logAlpha[k] : logAlpha[k] + (fraction * (logAlpha[k + 1] - logAlpha[k]));
    }

    /// <summary>α_t = √ᾱ_t, the scale of x_0 in x_t.</summary>
    public double Alpha(double t) => Math.Exp(LogAlpha(t));

    /// <summary>σ_t = √(1 − ᾱ_t), the scale of the noise in x_t (by expm1, exact near t = 0 where ᾱ ≈ 1).</summary>
    public double Sigma(double t) => Math.Sqrt(-double.ExpM1(2 * LogAlpha(t)));

    /// <summary>ᾱ_t.</summary>
    public double AlphaBar(double t) => Math.Exp(2 * LogAlpha(t));

    /// <summary>λ_t = log(α_t/σ_t), half the log signal-to-noise ratio: DPM-Solver's time variable.</summary>
    public double Lambda(double t)
    {
        var log = LogAlpha(t);
        return log - (0.5 * Math.Log(-double.ExpM1(2 * log)));
    }

    /// <summary>Karras et al.'s noise level σ = σ_t/α_t = √((1 − ᾱ_t)/ᾱ_t), the noise scale of x_t/α_t.</summary>
    public double KarrasSigma(double t) => Sigma(t) / Alpha(t);

    /// <summary>The time whose log α_t is <paramref name="value"/> (the exact inverse of the interpolation).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value lies outside [log α_{T−1}, log α_0].</exception>
    public double TimeOfLogAlpha(double value)
    {
        // The rounding of a round trip through σ may step just outside the ends; those are the ends.
        var slack = 1e-12 * Math.Max(1, Math.Abs(value));
        if (!(value <= logAlpha[0] + slack && value >= logAlpha[^1] - slack))
            throw new ArgumentOutOfRangeException(nameof(value), value, $"log α must lie in [{logAlpha[^1]}, {logAlpha[0]}], the model's timesteps 0 … {LastTime}");
        if (value >= logAlpha[0]) return 0;
        if (value <= logAlpha[^1]) return LastTime;
        // logAlpha decreases: find the last k with logAlpha[k] >= value.
        int low = 0, high = logAlpha.Length - 1;
        while (high - low > 1)
        {
            var middle = (low + high) / 2;
            if (logAlpha[middle] >= value) low = middle;
            else high = middle;
        }
        return low + ((logAlpha[low] - value) / (logAlpha[low] - logAlpha[high]));
    }

    /// <summary>The time whose λ = log(α/σ) is <paramref name="lambda"/>: log α = −½·log(1 + e^(−2λ)).</summary>
    public double TimeOfLambda(double lambda) => TimeOfLogAlpha(-0.5 * double.LogP1(Math.Exp(-2 * lambda)));

    /// <summary>The time whose Karras noise level is <paramref name="sigma"/>: log α = −½·log(1 + σ²).</summary>
    public double TimeOfKarrasSigma(double sigma) => TimeOfLogAlpha(-0.5 * double.LogP1(sigma * sigma));

    void RequireInRange(double t)
    {
        if (!(t >= 0 && t <= LastTime))
            throw new ArgumentOutOfRangeException(nameof(t), t, $"the model's timesteps run from 0 to {LastTime}");
    }
}
