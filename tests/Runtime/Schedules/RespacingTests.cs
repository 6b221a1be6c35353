using System.Text.Json;
using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Runtime.Schedules;

/// <summary>respacing.json: space_timesteps, the timestep map and the respaced (cosine) betas, and the refusals.</summary>
public sealed class RespacingTests
{
    const string File = "respacing.json";

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < ReferenceFixtures.Json(File).GetArrayLength(); i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_the_reference(int index)
    {
        var entry = ReferenceFixtures.Json(File)[index];
        var steps = entry.GetProperty("steps").GetInt32();
        var spec = entry.GetProperty("spec").GetString()!;
        if (entry.TryGetProperty("error", out var referenceError))
        {
            var error = Assert.Throws<ArgumentException>(() => TimestepRespacing.SpaceTimesteps(steps, spec));
            Assert.Contains(spec, error.Message);
            if (referenceError.GetString()!.StartsWith("ValueError", StringComparison.Ordinal))
            {
                // The same refusal as the reference, with a message that names the real problem.
                var expectedPhrase = referenceError.GetString()!.Contains("divide section") ? "cannot divide section" : "cannot create exactly";
                Assert.Contains(expectedPhrase, error.Message);
            }
            else
            {
                // The reference crashes with IndexError on a one-step respacing; ours refuses clearly.
                Assert.Contains("single step", error.Message);
            }
            return;
        }

        var kept = TimestepRespacing.SpaceTimesteps(steps, spec);
        Assert.Equal(Ints(entry, "timesteps").Order(), kept);
        Assert.Equal(Ints(entry, "timestep_map"), kept);

        var baseTables = new DiffusionTables(BetaSchedules.Cosine(steps));
        var betas = TimestepRespacing.RespacedBetas(baseTables.AlphasCumprod, kept);
        ReferenceFixtures.ToleranceOf(File).AssertClose(
            entry.GetProperty("respaced_betas_cosine").EnumerateArray().Select(e => e.GetDouble()).ToArray(), betas,
            $"{steps}/{spec}/respaced_betas_cosine");
    }

    [Fact]
    public void An_empty_spec_keeps_every_step()
    {
        Assert.Equal(Enumerable.Range(0, 50), TimestepRespacing.SpaceTimesteps(50, ""));
        Assert.Equal(Enumerable.Range(0, 50), TimestepRespacing.SpaceTimesteps(50, null));
    }

    [Theory]
    [InlineData("abc", "not a positive step count")]
    [InlineData("10,,5", "not a positive step count")]
    [InlineData("0", "not a positive step count")]
    [InlineData("ddim", "positive number of steps")]
    [InlineData("ddimx", "positive number of steps")]
    [InlineData("ddim1", "cannot create exactly 1 steps")]
    public void Malformed_specs_are_refused_with_what_would_be_valid(string spec, string phrase)
    {
        var error = Assert.Throws<ArgumentException>(() => TimestepRespacing.SpaceTimesteps(1000, spec));
        Assert.Contains(phrase, error.Message);
    }

    [Fact]
    public void Respaced_betas_of_every_step_reproduce_the_original_betas()
    {
        var tables = new DiffusionTables(BetaSchedules.Linear(100));
        var betas = TimestepRespacing.RespacedBetas(tables.AlphasCumprod, TimestepRespacing.SpaceTimesteps(100, ""));
        for (var i = 0; i < 100; i++) Assert.Equal(tables.Betas[i], betas[i], 1e-15);
    }

    static int[] Ints(JsonElement entry, string name) => entry.GetProperty(name).EnumerateArray().Select(e => e.GetInt32()).ToArray();
}
