namespace ImprovedDdpm;

/// <summary>
/// Beta schedules as the reference's <c>get_named_beta_schedule</c> builds them, in float64.
/// Pure C# (no TorchSharp): linked into the source generator so compile-time tables and run-time tables are one code.
/// </summary>
public static class BetaSchedules
{
    /// <summary>The cosine schedule's offset s (paper eq. 17).</summary>
    public const double CosineOffset = 0.008;

    /// <summary>Betas are clipped here to avoid singularities near t = T.</summary>
    public const double MaxBeta = 0.999;

    /// <summary>The schedule for <paramref name="schedule"/> with <paramref name="steps"/> steps.</summary>
    public static double[] Create(NoiseSchedule schedule, int steps) => schedule switch
    {
        NoiseSchedule.Linear => Linear(steps),
        NoiseSchedule.Cosine => Cosine(steps),
        _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "unknown noise schedule"),
    };

    /// <summary>
    /// Ho et al.'s linear schedule from 1e-4 to 0.02 at T = 1000, both ends scaled by 1000/T. Computed as
    /// <c>np.linspace</c> does (start + i·step, the last value exactly the end).
    /// </summary>
    public static double[] Linear(int steps)
    {
        RequirePositive(steps);
        var scale = 1000.0 / steps;
        var start = scale * 0.0001;
        var end = scale * 0.02;
        var betas = new double[steps];
        if (steps == 1)
        {
            betas[0] = start;
            return betas;
        }
        var step = (end - start) / (steps - 1);
        for (var i = 0; i < steps; i++) betas[i] = i * step + start;
        betas[steps - 1] = end;
        return betas;
    }

    /// <summary>The cosine schedule: ᾱ(t) = cos²((t + s)/(1 + s) · π/2) discretised by <see cref="BetasForAlphaBar"/>.</summary>
    public static double[] Cosine(int steps) => BetasForAlphaBar(steps, CosineAlphaBar);

    /// <summary>ᾱ at a fraction <paramref name="t"/> ∈ [0, 1] of the process, before discretisation.</summary>
    public static double CosineAlphaBar(double t)
    {
        var c = Math.Cos((t + CosineOffset) / (1 + CosineOffset) * Math.PI / 2);
        return c * c;
    }

    /// <summary>β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), maxBeta) (reference: <c>betas_for_alpha_bar</c>).</summary>
    public static double[] BetasForAlphaBar(int steps, Func<double, double> alphaBar, double maxBeta = MaxBeta)
    {
        RequirePositive(steps);
        var betas = new double[steps];
        for (var i = 0; i < steps; i++)
        {
            var t1 = (double)i / steps;
            var t2 = (double)(i + 1) / steps;
            betas[i] = Math.Min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
        }
        return betas;
    }

    static void RequirePositive(int steps)
    {
        if (steps <= 0)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "the number of diffusion steps must be positive");
    }
}
