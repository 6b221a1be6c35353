using ImprovedDdpm.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Diffusion;

/// <summary>sampling_loops: whole p_sample_loop and ddim_sample_loop runs on a 10-step respacing of cosine T = 4000.</summary>
public sealed class SamplingLoopsTests
{
    const string File = "sampling_loops.safetensors";
    static readonly IReadOnlyDictionary<string, FixtureTensor> Reference = ReferenceFixtures.Tensors(File);
    static readonly Tolerance Tolerance = ReferenceFixtures.ToleranceOf(File);

    static GaussianDiffusion Diffusion() =>
        new(BetaSchedules.Cosine(4000), ModelMeanType.Epsilon, ModelVarType.LearnedRange, LossType.RescaledMse, respacing: "10");

    static ReplayNoiseSource Draws(string loop) =>
        new(Reference[loop + "/draws"].ToTorch().unbind(0));

    [Fact]
    public void The_respaced_timestep_map_matches()
    {
        Assert.Equal(Reference["timestep_map"].AsLongs(), Diffusion().TimestepMap.Select(v => (long)v));
    }

    [Fact]
    public void Ancestral_sampling_loop()
    {
        using var scope = NewDisposeScope();
        var draws = Draws("p_sample_loop");
        var sample = Diffusion().PSampleLoop(TinyNetworks.Sigma, [2, 3, 8, 8], draws);
        Assert.Equal(0, draws.Remaining);
        Tolerance.AssertClose(Reference["p_sample_loop/sample"], sample, "p_sample_loop/sample");
    }

    [Theory]
    [InlineData("0.0", 0.0)]
    [InlineData("1.0", 1.0)]
    public void Ddim_sampling_loop(string name, double eta)
    {
        using var scope = NewDisposeScope();
        var draws = Draws($"ddim_sample_loop_eta_{name}");
        var sample = Diffusion().DdimSampleLoop(TinyNetworks.Sigma, [2, 3, 8, 8], draws, eta);
        Assert.Equal(0, draws.Remaining);
        Tolerance.AssertClose(Reference[$"ddim_sample_loop_eta_{name}/sample"], sample, $"ddim_sample_loop_eta_{name}/sample");
    }

    [Fact]
    public void A_seeded_noise_source_repeats_itself()
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion();
        using var first = new SeededNoiseSource(7);
        using var second = new SeededNoiseSource(7);
        var a = diffusion.DdimSampleLoop(TinyNetworks.Sigma, [1, 3, 8, 8], first);
        var b = diffusion.DdimSampleLoop(TinyNetworks.Sigma, [1, 3, 8, 8], second);
        Assert.True(a.eq(b).all().item<bool>());
    }

    [Fact]
    public void Memory_stays_flat_over_the_loop()
    {
        using var scope = NewDisposeScope();
        var diffusion = new GaussianDiffusion(BetaSchedules.Cosine(200), ModelMeanType.Epsilon, ModelVarType.LearnedRange, LossType.RescaledMse);
        using var noise = new SeededNoiseSource(3);
        diffusion.PSampleLoop(TinyNetworks.Sigma, [1, 3, 8, 8], noise).Dispose(); // makes the engine's long-lived tables
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var progress = new List<int>();
        var sample = diffusion.PSampleLoop(TinyNetworks.Sigma, [1, 3, 8, 8], noise, progress: new SynchronousProgress(progress.Add));
        var after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.Equal(Enumerable.Range(1, 200), progress);
        // Only the returned sample outlives the loop: nothing accumulates per step.
        Assert.True(after - before <= 1, $"{after - before} tensors outlived a 200-step loop");
        Assert.False(sample.requires_grad);
    }

    sealed class SynchronousProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
