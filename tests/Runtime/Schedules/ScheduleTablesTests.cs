using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Runtime.Schedules;

/// <summary>schedule_{linear,cosine}_{1000,4000}: the 13 float64 tables of a GaussianDiffusion.</summary>
public sealed class ScheduleTablesTests
{
    public static TheoryData<string, int> Schedules => new()
    {
        { "linear", 1000 }, { "linear", 4000 }, { "cosine", 1000 }, { "cosine", 4000 },
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Every_table_matches_the_reference(string name, int steps)
    {
        var schedule = name == "linear" ? NoiseSchedule.Linear : NoiseSchedule.Cosine;
        ScheduleTables.AssertMatchesReference($"schedule_{name}_{steps}.safetensors", new DiffusionTables(BetaSchedules.Create(schedule, steps)));
    }

    [Fact]
    public void Cosine_betas_are_clipped_at_max_beta()
    {
        var betas = BetaSchedules.Cosine(4000);
        Assert.Equal(BetaSchedules.MaxBeta, betas[^1]);
        Assert.All(betas, b => Assert.InRange(b, 0.0, BetaSchedules.MaxBeta));
    }

    [Fact]
    public void Linear_schedule_is_rescaled_so_its_ends_scale_with_1000_over_T()
    {
        var betas = BetaSchedules.Linear(2000);
        Assert.Equal(0.0001 * 0.5, betas[0], 15);
        Assert.Equal(0.02 * 0.5, betas[^1], 15);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Non_positive_step_counts_are_refused(int steps)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => BetaSchedules.Cosine(steps));
        Assert.Contains("must be positive", error.Message);
    }

    [Fact]
    public void A_one_step_process_is_refused_with_a_reason()
    {
        var error = Assert.Throws<ArgumentException>(() => new DiffusionTables([0.5]));
        Assert.Contains("at least 2 steps", error.Message);
    }
}
