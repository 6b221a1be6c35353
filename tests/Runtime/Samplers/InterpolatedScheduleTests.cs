namespace ImprovedDdpm.Tests.Runtime.Samplers;

/// <summary><see cref="InterpolatedSchedule"/> and the samplers' time grids.</summary>
public sealed class InterpolatedScheduleTests
{
    static readonly DiffusionTables Tables = new(BetaSchedules.Cosine(1000));
    static readonly InterpolatedSchedule Schedule = new(Tables);

    [Fact]
    public void Integer_times_give_the_tables_and_fractional_ones_interpolate_log_alpha_linearly()
    {
        // exp(2·½·log ᾱ) rounds by |log ᾱ| ≤ 20 ulps: 5·10⁻¹⁵ relative.
        foreach (var t in new[] { 0, 1, 500, 998, 999 })
        {
            Assert.Equal(Tables.AlphasCumprod[t], Schedule.AlphaBar(t), 1e-14 * Tables.AlphasCumprod[t]);
            Assert.Equal(1 - Tables.AlphasCumprod[t], Schedule.Sigma(t) * Schedule.Sigma(t), 1e-12 * (1 - Tables.AlphasCumprod[t]));
        }
        // log α halfway between 998 and 999 is the mean of the two: ᾱ is their geometric mean.
        Assert.Equal(Math.Sqrt(Tables.AlphasCumprod[998] * Tables.AlphasCumprod[999]), Schedule.AlphaBar(998.5), 1e-12 * Tables.AlphasCumprod[999]);
        Assert.Equal(Schedule.LogAlpha(10) + (0.25 * (Schedule.LogAlpha(11) - Schedule.LogAlpha(10))), Schedule.LogAlpha(10.25), 1e-15);
        Assert.Equal(Math.Log(Schedule.Alpha(0.5) / Schedule.Sigma(0.5)), Schedule.Lambda(0.5), 1e-12);
        Assert.Throws<ArgumentOutOfRangeException>(() => Schedule.LogAlpha(999.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Schedule.LogAlpha(-0.1));
    }

    [Fact]
    public void Time_of_a_noise_level_inverts_the_interpolation()
    {
        foreach (var t in new[] { 0, 0.3, 1, 250.75, 998.5, 999 })
        {
            Assert.Equal(t, Schedule.TimeOfLogAlpha(Schedule.LogAlpha(t)), 1e-9);
            Assert.Equal(t, Schedule.TimeOfKarrasSigma(Schedule.KarrasSigma(t)), 1e-6);
            Assert.Equal(t, Schedule.TimeOfLambda(Schedule.Lambda(t)), 1e-6);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Schedule.TimeOfKarrasSigma(Schedule.KarrasSigma(999) * 2));
    }

    [Fact]
    public void Dpm_solver_times_step_from_the_last_training_timestep_to_lambda_minus_5_1_then_evenly_in_lambda_to_zero()
    {
        var times = DiffusionSamplers.DpmSolverTimes(Schedule, 6);
        Assert.Equal(999, times[0]);
        Assert.Equal(0, times[^1]);
        Assert.True(Schedule.Lambda(999) < -5.1);
        var lambdas = times.Select(Schedule.Lambda).ToArray();
        Assert.Equal(-5.1, lambdas[1], 1e-9);
        for (var i = 2; i < lambdas.Length; i++) Assert.Equal((Schedule.Lambda(0) + 5.1) / 4, lambdas[i] - lambdas[i - 1], 1e-9);
        Assert.Equal([999.0], DiffusionSamplers.DpmSolverTimes(Schedule, 1));
        Assert.Equal([999.0, 0], DiffusionSamplers.DpmSolverTimes(Schedule, 2));

        // A schedule that stays above λ = −5.1 is spaced evenly from its own top.
        var mild = new InterpolatedSchedule(new DiffusionTables(Enumerable.Repeat(0.01, 100).ToArray()));
        Assert.True(mild.Lambda(99) > -5.1);
        var mildLambdas = DiffusionSamplers.DpmSolverTimes(mild, 4).Select(mild.Lambda).ToArray();
        Assert.Equal(mild.Lambda(99), mildLambdas[0]);
        for (var i = 1; i < 4; i++) Assert.Equal((mild.Lambda(0) - mild.Lambda(99)) / 3, mildLambdas[i] - mildLambdas[i - 1], 1e-9);
    }

    [Fact]
    public void Karras_levels_jump_from_the_model_sigma_max_to_80_then_follow_rho_7_to_the_model_sigma_min()
    {
        var sigmas = DiffusionSamplers.KarrasSigmas(Schedule, 6);
        Assert.Equal(7, sigmas.Length);
        Assert.Equal(Schedule.KarrasSigma(999), sigmas[0]);
        Assert.Equal(80, sigmas[1], 1e-12);
        Assert.Equal(Schedule.KarrasSigma(0), sigmas[5]);
        Assert.Equal(0, sigmas[6]);
        // σ^(1/7) falls by equal amounts from 80 to σ_min.
        var roots = sigmas[1..6].Select(s => Math.Pow(s, 1 / 7.0)).ToArray();
        for (var i = 1; i < roots.Length; i++) Assert.Equal(roots[1] - roots[0], roots[i] - roots[i - 1], 1e-12);
        Assert.Equal([Schedule.KarrasSigma(999), 0], DiffusionSamplers.KarrasSigmas(Schedule, 1));

        // A schedule whose σ_max is under 80 starts the spacing at its own σ_max.
        var mild = new InterpolatedSchedule(new DiffusionTables(Enumerable.Repeat(0.01, 100).ToArray()));
        var levels = DiffusionSamplers.KarrasSigmas(mild, 3);
        Assert.True(mild.KarrasSigma(99) < 80);
        Assert.Equal([mild.KarrasSigma(99), Math.Pow((Math.Pow(mild.KarrasSigma(99), 1 / 7.0) + Math.Pow(mild.KarrasSigma(0), 1 / 7.0)) / 2, 7), mild.KarrasSigma(0), 0], levels);
    }

    [Theory]
    [InlineData(SamplerKind.Ddim, 20, 20)]
    [InlineData(SamplerKind.DpmSolverPlusPlus2M, 20, 20)]
    [InlineData(SamplerKind.KarrasEuler, 20, 20)]
    [InlineData(SamplerKind.KarrasHeun, 11, 20)]
    [InlineData(SamplerKind.KarrasHeun, 3, 4)]
    [InlineData(SamplerKind.KarrasHeun, 1, 1)]
    public void Network_evaluations_per_sample(SamplerKind kind, int steps, int evaluations)
    {
        Assert.Equal(evaluations, DiffusionSamplers.NetworkEvaluations(kind, steps));
        Assert.Equal(steps, DiffusionSamplers.StepsWithin(kind, evaluations));
    }
}
