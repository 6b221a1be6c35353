using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Samplers;

/// <summary>
/// <see cref="DiffusionSamplers"/>: each solver's arithmetic against the exact probability-flow ODE of Gaussian data,
/// what reaches the network (labels, fractional timesteps), determinism, and the reference's loops behind DDPM and DDIM.
/// </summary>
public sealed class DiffusionSamplerTests
{
    const int T = 1000;

    // Loaded on a thread of its own, outside any test's dispose scope, and shared (as TinyNetworks does).
    static readonly Lazy<IDiffusionNetwork> TinyCondNetwork = new(() => Task.Run(() => (IDiffusionNetwork)TinyFixtureNetworks.Load("tiny_unet_cond")).Result);
    static readonly long[] Shape = [2, 3, 4, 4];

    static GaussianDiffusion Diffusion(bool rescaleTimesteps = true, ModelMeanType meanType = ModelMeanType.Epsilon) =>
        new(BetaSchedules.Cosine(T), meanType, ModelVarType.LearnedRange, LossType.RescaledMse, rescaleTimesteps);

    static GaussianData Data(GaussianDiffusion diffusion) =>
        new(new InterpolatedSchedule(diffusion.Tables), linspace(-0.6, 0.6, 3 * 4 * 4).view(1, 3, 4, 4), 0.5);

    /// <summary>RMSE of a sampler's endpoint from x_T = the first draw of seed 1 to the exact one.</summary>
    static double Error(SamplerKind kind, int steps)
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion();
        var data = Data(diffusion);
        using var noise = new SeededNoiseSource(1);
        using var same = new SeededNoiseSource(1);
        var exact = data.Endpoint(same.Next(Shape));
        var sample = DiffusionSamplers.Sample(diffusion, data.Network(), Shape, noise, kind, steps, clipDenoised: false);
        var difference = sample.to(ScalarType.Float64) - exact;
        return Math.Sqrt((difference * difference).mean().item<double>());
    }

    [Theory]
    [InlineData(SamplerKind.Ddim, 1)]
    [InlineData(SamplerKind.DpmSolverPlusPlus2M, 2)]
    [InlineData(SamplerKind.KarrasHeun, 2)]
    [InlineData(SamplerKind.KarrasEuler, 1)]
    public void Converges_to_the_exact_endpoint_of_gaussian_data_at_its_order(SamplerKind kind, int order)
    {
        int[] steps = [5, 10, 20, 50, 100, 200, 400];
        var errors = steps.Select(n => Error(kind, n)).ToArray();
        var listing = string.Join(", ", steps.Zip(errors, (n, e) => $"{n}: {e:E2}"));
        // With very few steps the error need not fall steadily: DPM-Solver++(2M)'s is 2.9·10⁻³ after 10 steps but
        // 8.1·10⁻³ after 20 on this data, an accident of its few large steps (0.26 after 5). From 20 on it must fall.
        for (var i = 3; i < steps.Length; i++)
            Assert.True(errors[i] < errors[i - 1], $"{kind}: the error grew from {steps[i - 1]} to {steps[i]} steps ({listing})");
        Assert.True(errors[^1] < errors[0] / 10, $"{kind}: 400 steps are not 10 times closer than 5 ({listing})");

        // A method of order p has error C·N^(−p)·(1 + O(1/N)): doubling N divides it by 2^p. Allowing 0.3 for the
        // higher-order terms still tells order 2 from order 1, and an error that stops shrinking (a wrong coefficient
        // or time, the variance channels read as ε) shows as an order near 0. At 400 steps the errors are 10⁻³ (first
        // order) and 2 to 3·10⁻⁵ (second), far above float32 rounding, which runs of 1000 steps put below 6·10⁻⁶.
        var observed = Math.Log2(errors[^2] / errors[^1]);
        Assert.True(observed > order - 0.3, $"{kind}: order {observed:F2} from 200 to 400 steps, expected {order} ({listing})");
    }

    [Fact]
    public void Dpm_solver_plus_plus_2m_at_20_evaluations_lands_closer_than_ddim_at_50()
    {
        var dpmSolver = Error(SamplerKind.DpmSolverPlusPlus2M, 20);
        var ddim = Error(SamplerKind.Ddim, 50);
        Assert.True(dpmSolver < ddim, $"DPM-Solver++(2M) 20: {dpmSolver:E2}, DDIM 50: {ddim:E2}");
    }

    [Fact]
    public void A_network_that_predicts_x0_samples_as_one_that_predicts_eps()
    {
        using var scope = NewDisposeScope();
        var eps = Diffusion();
        var xStart = Diffusion(meanType: ModelMeanType.StartX);
        var data = Data(eps);
        var schedule = new InterpolatedSchedule(eps.Tables);
        // E[x_0 | x_t] = (x_t − σ_t·E[ε | x_t])/α_t, from the ε network's own output.
        var predictsX0 = DiffusionNetwork.FromFunction((x, timesteps, y) =>
        {
            var t = timesteps.to(ScalarType.Float64)[0].item<double>() * T / 1000.0;
            var epsilon = data.Network().forward(x, timesteps, y).narrow(1, 0, 3).to(ScalarType.Float64);
            var x0 = (x.to(ScalarType.Float64) - (epsilon * schedule.Sigma(t))) / schedule.Alpha(t);
            return cat([x0.to(ScalarType.Float32), zeros_like(x)], 1);
        });
        using var first = new SeededNoiseSource(4);
        using var second = new SeededNoiseSource(4);
        var a = DiffusionSamplers.Sample(eps, data.Network(), Shape, first, SamplerKind.DpmSolverPlusPlus2M, 7, clipDenoised: false);
        var b = DiffusionSamplers.Sample(xStart, predictsX0, Shape, second, SamplerKind.DpmSolverPlusPlus2M, 7, clipDenoised: false);
        // The same arithmetic in another order, so float32 rounding apart. The largest part is the first x_0 prediction,
        // x_0 = (x − σ·ε)/α at t = 999, where σ/α = 2·10⁴ magnifies ε's rounding (2⁻²⁴ of |ε| ≤ 3.5) to 4·10⁻³; the
        // first step, to λ = −5.1, carries it with weight α = 6·10⁻³. The x_0 network also converts at t rounded to
        // float32 (by 3·10⁻⁵ at most), which moves α by under 10⁻⁵ of itself: together well under 10⁻⁴. Reading x_0 as ε is
        // off by order 1.
        Assert.True(a.allclose(b, rtol: 0, atol: 1e-4), $"largest difference {(a - b).abs().max().item<float>()}");
    }

    public static TheoryData<SamplerKind> AllSamplers => new(Enum.GetValues<SamplerKind>());

    public static TheoryData<SamplerKind> OdeSamplers => new(SamplerKind.DpmSolverPlusPlus2M, SamplerKind.KarrasHeun, SamplerKind.KarrasEuler);

    [Theory]
    [MemberData(nameof(AllSamplers))]
    public void The_same_seed_gives_the_same_images(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion();
        var network = Data(diffusion).Network();
        Tensor Run(long seed)
        {
            using var noise = new SeededNoiseSource(seed);
            return DiffusionSamplers.Sample(diffusion, network, Shape, noise, kind, 6);
        }
        var first = Run(7);
        Assert.True(Same(first, Run(7)), $"{kind} differs between two runs with seed 7");
        Assert.False(Same(first, Run(8)), $"{kind} gives the same images for seeds 7 and 8");
    }

    [Theory]
    [MemberData(nameof(OdeSamplers))]
    public void The_ode_samplers_draw_x_T_first_and_nothing_else(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion();
        var network = Data(diffusion).Network();
        using var seeded = new SeededNoiseSource(3);
        using var draws = new SeededNoiseSource(3);
        var replay = new ReplayNoiseSource([draws.Next(Shape)]);
        var expected = DiffusionSamplers.Sample(diffusion, network, Shape, seeded, kind, 6);
        var replayed = DiffusionSamplers.Sample(diffusion, network, Shape, replay, kind, 6);
        Assert.Equal(0, replay.Remaining);
        Assert.True(Same(expected, replayed));
    }

    [Theory]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.Ddim)]
    public void Ddpm_and_ddim_are_the_reference_loops_over_a_respacing_to_n_steps(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion();
        var network = Data(diffusion).Network();
        var respaced = new GaussianDiffusion(diffusion.Tables, diffusion.MeanType, diffusion.VarType, diffusion.LossType, respacing: "10");
        using var first = new SeededNoiseSource(5);
        using var second = new SeededNoiseSource(5);
        var sampled = DiffusionSamplers.Sample(diffusion, network, Shape, first, kind, 10);
        var loop = kind == SamplerKind.Ddpm
            ? respaced.PSampleLoop(network, Shape, second)
            : respaced.DdimSampleLoop(network, Shape, second);
        Assert.True(Same(sampled, loop));
    }

    [Theory]
    [MemberData(nameof(AllSamplers))]
    public void Every_network_evaluation_gets_the_class_labels_and_is_counted(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion();
        var inner = Data(diffusion).Network();
        var labels = tensor(new long[] { 2, 0 });
        var received = new List<long[]?>();
        var network = DiffusionNetwork.FromFunction((x, t, y) =>
        {
            received.Add(y?.data<long>().ToArray());
            return inner.forward(x, t, y);
        });
        var progress = new List<int>();
        using var noise = new SeededNoiseSource(0);
        DiffusionSamplers.Sample(diffusion, network, Shape, noise, kind, 6, y: labels, progress: new SynchronousProgress(progress.Add));
        var evaluations = DiffusionSamplers.NetworkEvaluations(kind, 6);
        Assert.Equal(evaluations, received.Count);
        Assert.All(received, y => Assert.Equal([2L, 0L], y ?? []));
        Assert.Equal(Enumerable.Range(1, evaluations), progress);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Dpm_solver_evaluates_at_its_fractional_times_as_the_network_receives_them(bool rescale)
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion(rescale);
        var times = DiffusionSamplers.DpmSolverTimes(new InterpolatedSchedule(diffusion.Tables), 7);
        Assert.Equal(times.Select(t => (float)(rescale ? t * 1000 / T : t)), Record(diffusion, SamplerKind.DpmSolverPlusPlus2M, 7));
        Assert.Equal(5, times.Count(t => t != Math.Round(t))); // all but the ends fall between training timesteps
    }

    [Fact]
    public void Karras_solvers_evaluate_at_the_timesteps_of_their_noise_levels()
    {
        using var scope = NewDisposeScope();
        var diffusion = Diffusion();
        var schedule = new InterpolatedSchedule(diffusion.Tables);
        var sigmas = DiffusionSamplers.KarrasSigmas(schedule, 6);
        var times = sigmas[..^1].Select((s, i) => i == 0 ? T - 1 : schedule.TimeOfKarrasSigma(s)).ToArray();
        Assert.Equal(times.Select(t => (float)(t * 1000 / T)), Record(diffusion, SamplerKind.KarrasEuler, 6));
        Assert.Contains(times, t => t != Math.Round(t));
        // Heun: the predictor's level, then the corrector's at the next one; the first and last steps are Euler's.
        float[] heun = [(float)(times[0] * 1000 / T), .. times[1..^1].SelectMany((t, i) => new[] { (float)(t * 1000 / T), (float)(times[i + 2] * 1000 / T) }), (float)(times[^1] * 1000 / T)];
        Assert.Equal(heun, Record(diffusion, SamplerKind.KarrasHeun, 6));
    }

    static float[] Record(GaussianDiffusion diffusion, SamplerKind kind, int steps)
    {
        var inner = Data(diffusion).Network(diffusion.RescaleTimesteps);
        var times = new List<float>();
        var network = DiffusionNetwork.FromFunction((x, t, y) =>
        {
            Assert.Equal(ScalarType.Float32, t.dtype);
            var values = t.data<float>().ToArray();
            Assert.All(values, v => Assert.Equal(values[0], v));
            times.Add(values[0]);
            return inner.forward(x, t, y);
        });
        using var noise = new SeededNoiseSource(0);
        DiffusionSamplers.Sample(diffusion, network, Shape, noise, kind, steps);
        return [.. times];
    }

    [Fact]
    public void Refuses_what_it_cannot_sample()
    {
        var network = DiffusionNetwork.FromFunction((x, _, _) => zeros_like(x));
        using var noise = new SeededNoiseSource(0);
        var respaced = new GaussianDiffusion(BetaSchedules.Cosine(T), ModelMeanType.Epsilon, ModelVarType.FixedLarge, LossType.Mse, respacing: "50");
        var error = Assert.Throws<ArgumentException>(() => DiffusionSamplers.Sample(respaced, network, Shape, noise, SamplerKind.DpmSolverPlusPlus2M, 10));
        Assert.Contains("respaced to 50 steps", error.Message);
        var previousX = new GaussianDiffusion(BetaSchedules.Cosine(T), ModelMeanType.PreviousX, ModelVarType.FixedLarge, LossType.Mse);
        error = Assert.Throws<ArgumentException>(() => DiffusionSamplers.Sample(previousX, network, Shape, noise, SamplerKind.KarrasEuler, 10));
        Assert.Contains("x_{t−1}", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DiffusionSamplers.Sample(Diffusion(), network, Shape, noise, SamplerKind.Ddim, 1));
    }

    [Theory]
    [MemberData(nameof(AllSamplers))]
    public void Samples_a_tiny_generated_class_conditional_model_end_to_end(SamplerKind kind)
    {
        using var scope = NewDisposeScope();
        var network = TinyCondNetwork.Value;
        var diffusion = TinyCond.CreateDiffusion("");
        using var noise = new SeededNoiseSource(0);
        var images = DiffusionSamplers.Sample(diffusion, network, [2, 3, 8, 8], noise, kind, 4, y: tensor(new long[] { 1, 9 }));
        Assert.Equal([2L, 3, 8, 8], images.shape);
        Assert.Equal(ScalarType.Float32, images.dtype);
        Assert.True(images.abs().max().item<float>() <= 1, "clipped samples leave [-1, 1]");
        Assert.True(images.std().item<float>() > 0, "the samples are constant");
    }

    [Fact]
    public void Accuracy_table_of_a_tiny_generated_model()
    {
        using var scope = NewDisposeScope();
        var network = TinyCondNetwork.Value;
        var diffusion = TinyCond.CreateDiffusion(""); // T = 10: the ground truth is DDIM over 10 steps
        var table = SamplerAccuracy.Measure(diffusion, network, [2, 3, 8, 8], [0, 1], budgets: [4, 10], y: tensor(new long[] { 3, 4 }));
        Assert.Equal(10, table.GroundTruthEvaluations);
        Assert.Equal(4, table.Samples);
        Assert.Equal(0, table.Of(SamplerKind.Ddim, 10).Rmse); // the ground truth itself
        Assert.All(table.Errors.Where(e => e.Kind != SamplerKind.Ddim || e.Budget != 10), e => Assert.True(e.Rmse > 0 && double.IsFinite(e.Rmse), $"{e}"));
        Assert.Equal(4, table.Of(SamplerKind.KarrasHeun, 4).Evaluations);
        Assert.Equal(10, table.Of(SamplerKind.KarrasHeun, 10).Evaluations);
        var markdown = table.ToMarkdown();
        Assert.Contains("| DPM-Solver++(2M) |", markdown);
        Assert.Equal(2 + 4, markdown.Trim().Split('\n').Length);
        Assert.Throws<ArgumentException>(() => SamplerAccuracy.Measure(diffusion, network, [1, 3, 8, 8], [0], kinds: [SamplerKind.Ddpm]));
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    sealed class SynchronousProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
