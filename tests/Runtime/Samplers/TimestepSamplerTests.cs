using System.Text.Json;
using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Runtime.Samplers;

/// <summary>resampler.json and the samplers' arithmetic.</summary>
public sealed class TimestepSamplerTests
{
    const string File = "resampler.json";

    [Fact]
    public void Replays_the_reference_updates()
    {
        var fixture = ReferenceFixtures.Json(File);
        var tolerance = ReferenceFixtures.ToleranceOf(File);
        var sampler = new LossSecondMomentResampler(fixture.GetProperty("num_timesteps").GetInt32(),
            fixture.GetProperty("history_per_term").GetInt32(), fixture.GetProperty("uniform_prob").GetDouble());
        var step = 0;
        foreach (var update in fixture.GetProperty("updates").EnumerateArray())
        {
            sampler.UpdateWithAllLosses(Longs(update, "t"), Doubles(update, "losses"));
            Assert.Equal(update.GetProperty("warmed_up").GetBoolean(), sampler.WarmedUp);
            tolerance.AssertClose(Doubles(update, "weights"), sampler.Weights(), $"weights after update {step++}");
        }

        // The fixture's warm-up must actually complete, or the probe below would only see uniform weights.
        Assert.True(sampler.WarmedUp, "the reference updates end before warm-up completes");
        var probe = fixture.GetProperty("importance_weight_probe");
        var importance = sampler.ImportanceWeights();
        var probed = Longs(probe, "t").Select(t => importance[t]).ToArray();
        tolerance.AssertClose(Doubles(probe, "weights"), probed, "importance weights 1/(T·p_t) at the probe");

        // What Sample hands out beside each drawn t is that same importance weight.
        var draw = sampler.Sample(256, new Random(3));
        for (var i = 0; i < draw.Timesteps.Length; i++)
            Assert.Equal(importance[draw.Timesteps[i]], draw.Weights[i]);
        tolerance.AssertClose(Doubles(fixture, "uniform_weights"), new UniformSampler(importance.Length).Weights(), "uniform weights");
    }

    [Fact]
    public void Warmed_up_weights_follow_the_second_moment_with_a_uniform_mix()
    {
        var sampler = new LossSecondMomentResampler(3, historyPerTerm: 2, uniformProb: 0.1);
        sampler.UpdateWithAllLosses([0, 1, 2, 0, 1], [1, 2, 3, 1, 2]);
        Assert.False(sampler.WarmedUp);
        Assert.Equal([1.0, 1, 1], sampler.Weights());
        sampler.UpdateWithAllLosses([2, 2], [4, 5]); // t = 2 is full at [3, 4]; then 3 is dropped: [4, 5]
        Assert.True(sampler.WarmedUp);
        double[] rms = [1, 2, Math.Sqrt((16 + 25) / 2.0)];
        var expected = rms.Select(r => r / rms.Sum() * 0.9 + 0.1 / 3).ToArray();
        var weights = sampler.Weights();
        for (var t = 0; t < 3; t++) Assert.Equal(expected[t], weights[t], 1e-15);
    }

    [Fact]
    public void The_loss_history_round_trips_so_a_resumed_sampler_draws_the_same()
    {
        var sampler = new LossSecondMomentResampler(3, historyPerTerm: 2, uniformProb: 0.1);
        sampler.UpdateWithAllLosses([0, 1, 2, 0, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7]);
        var history = sampler.History();
        Assert.Equal([[1.0, 4], [2.0, 5], [6.0, 7]], history);

        var restored = new LossSecondMomentResampler(3, historyPerTerm: 2, uniformProb: 0.1);
        restored.RestoreHistory(history);
        Assert.True(restored.WarmedUp);
        Assert.Equal(sampler.Weights(), restored.Weights());
        sampler.UpdateWithAllLosses([0], [9]);
        restored.UpdateWithAllLosses([0], [9]);
        Assert.Equal(sampler.History(), restored.History());
        Assert.Throws<ArgumentException>(() => restored.RestoreHistory([[1.0, 2, 3], [], []]));
    }

    [Fact]
    public void Sampling_draws_heavy_steps_more_often_with_unbiasing_weights()
    {
        var sampler = new LossSecondMomentResampler(4, historyPerTerm: 1, uniformProb: 0);
        sampler.UpdateWithAllLosses([0, 1, 2, 3], [1, 1, 1, 7]);
        var draw = sampler.Sample(10_000, new Random(5));
        var heavy = draw.Timesteps.Count(t => t == 3) / 10_000.0;
        Assert.InRange(heavy, 0.67, 0.73); // p_3 = 0.7
        var p = sampler.Probabilities();
        for (var i = 0; i < draw.Timesteps.Length; i++)
            Assert.Equal(1.0 / (4 * p[draw.Timesteps[i]]), draw.Weights[i], 1e-12);
    }

    [Fact]
    public void The_uniform_sampler_covers_every_step_with_unit_weights()
    {
        var draw = new UniformSampler(50).Sample(5_000, new Random(1));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), draw.Timesteps.Distinct().Order());
        Assert.All(draw.Weights, w => Assert.Equal(1.0, w, 1e-12));
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LossSecondMomentResampler(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LossSecondMomentResampler(10, uniformProb: 1.5));
        var sampler = new LossSecondMomentResampler(10);
        Assert.Throws<ArgumentException>(() => sampler.UpdateWithAllLosses([1, 2], [0.5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.UpdateWithAllLosses([10], [0.5]));
        Assert.IsType<LossSecondMomentResampler>(ScheduleSamplers.Create(ScheduleSampler.LossSecondMoment, 10));
    }

    static long[] Longs(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(v => v.GetInt64()).ToArray();
    static double[] Doubles(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(v => v.GetDouble()).ToArray();
}
