using System.Globalization;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>How <see cref="DiffusionSamplers.Sample"/> goes from noise to an image.</summary>
public enum SamplerKind
{
    /// <summary>The reference's ancestral sampling (<c>p_sample_loop</c>) over a respacing to N steps: stochastic.</summary>
    Ddpm,

    /// <summary>DDIM with η = 0 (<c>ddim_sample_loop</c>) over a respacing to N steps: the first-order ODE solver.</summary>
    Ddim,

    /// <summary>DPM-Solver++(2M) (Lu et al. 2022): multistep, second order, on the data prediction, logSNR-uniform steps.</summary>
    DpmSolverPlusPlus2M,

    /// <summary>Karras et al. 2022, Algorithm 1 without churn: Heun's second-order method on their σ schedule (ρ = 7);
    /// its first and last steps are Euler's.</summary>
    KarrasHeun,

    /// <summary>Euler's method on the Karras σ schedule: first order, one network evaluation per step.</summary>
    KarrasEuler,
}

/// <summary>
/// Sampling with a choice of solver, for a network trained on a discrete-time process (the reference's). DDPM and DDIM
/// are the reference's loops over a respaced process; the ODE solvers evaluate the network between its training
/// timesteps (<see cref="InterpolatedSchedule"/>) and reach a given accuracy with far fewer network evaluations
/// (<see cref="SamplerAccuracy"/> measures it).
/// </summary>
/// <remarks>
/// Every sampler draws x_T first from the noise source, as the reference's loops do, so for one seed all of them start
/// from the same x_T. The ODE solvers draw nothing else. They read ε (or x_0, for models that predict it) from the
/// network's first C channels, ignoring a learned variance as is standard for ODE solvers, and they end at the x_0
/// predicted at t = 0, as DDIM does, so all of them approximate the same endpoint: the probability-flow ODE from x_T at
/// t = T−1 down to t = 0, then its x_0 prediction. The network receives fractional timesteps as float32: t·1000/T under
/// rescaled timesteps, else t itself.
/// </remarks>
public static class DiffusionSamplers
{
    /// <summary>
    /// Karras et al.'s ρ: their recommended spacing of noise levels, denser at low noise (σ_i^(1/ρ) uniform in i).
    /// </summary>
    public const double KarrasRho = 7.0;

    /// <summary>DPM-Solver's clip of λ = log(α/σ) for discrete schedules (<c>clipped_lambda</c>): where its even spacing starts.</summary>
    public const double DpmSolverLambdaMin = -5.1;

    /// <summary>Steps of a sampler when none are given: where DPM-Solver++(2M) already lands closer to the exact endpoint than DDIM at 50.</summary>
    public const int DefaultSteps = 20;

    static readonly (SamplerKind Kind, string Name)[] Names =
    [
        (SamplerKind.Ddpm, "ddpm"), (SamplerKind.Ddim, "ddim"), (SamplerKind.DpmSolverPlusPlus2M, "dpm-solver++-2m"),
        (SamplerKind.KarrasHeun, "karras-heun"), (SamplerKind.KarrasEuler, "karras-euler"),
    ];

    /// <summary>The sampler's name on the command line: <c>ddpm</c>, <c>ddim</c>, <c>dpm-solver++-2m</c>, <c>karras-heun</c>, <c>karras-euler</c>.</summary>
    public static string Name(SamplerKind kind) => Names.First(n => n.Kind == kind).Name;

    /// <summary>The sampler of a <see cref="Name"/> (any case), or null.</summary>
    public static SamplerKind? FromName(string name)
    {
        foreach (var (kind, known) in Names)
        {
            if (string.Equals(known, name.Trim(), StringComparison.OrdinalIgnoreCase)) return kind;
        }
        return null;
    }

    /// <summary>Every sampler's name, for messages and help.</summary>
    public static IEnumerable<string> AllNames => Names.Select(n => n.Name);

    /// <summary>The highest noise level of Karras et al.'s spacing, their σ_max (see <see cref="KarrasSigmas"/>).</summary>
    public const double KarrasSigmaMax = 80.0;

    /// <summary>
    /// Images from pure noise with the chosen sampler; the returned float32 batch is in [-1, 1] when
    /// <paramref name="clipDenoised"/> (every predicted x_0 clipped, as the reference does), the caller owns it.
    /// </summary>
    /// <param name="diffusion">The full process the network was trained on (no respacing; DDPM and DDIM respace it to
    /// <paramref name="steps"/> themselves, as the reference's <c>--timestep-respacing N</c>).</param>
    /// <param name="shape">[N, C, H, W].</param>
    /// <param name="noise">x_T is its first draw; DDPM draws one more per step, DDIM (η = 0) too (scaled by zero), as the reference.</param>
    /// <param name="steps">DDPM, DDIM and DPM-Solver++(2M): the network evaluations; the Karras solvers: the noise
    /// levels above zero (Heun evaluates 2·steps − 2 times). <see cref="NetworkEvaluations"/> says which.</param>
    /// <param name="y">Class labels [N] for class-conditional networks, passed to every evaluation.</param>
    /// <param name="progress">Told the network evaluations done so far.</param>
    /// <exception cref="ArgumentException">A respaced diffusion, too few steps, or a process these solvers cannot run.</exception>
    public static Tensor Sample(GaussianDiffusion diffusion, IDiffusionNetwork network, long[] shape, INoiseSource noise,
        SamplerKind kind, int steps, bool clipDenoised = true, Tensor? y = null, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(diffusion);
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(noise);
        if (diffusion.NumTimesteps != diffusion.OriginalNumTimesteps)
            throw new ArgumentException($"the samplers need the full {diffusion.OriginalNumTimesteps}-step process the network was trained on; this one is respaced to {diffusion.NumTimesteps} steps (create the diffusion with the respacing \"\")", nameof(diffusion));
        var minimum = MinimumSteps(kind);
        if (steps < minimum)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, $"{kind} needs at least {minimum} steps");
        if (steps > diffusion.NumTimesteps && kind is SamplerKind.Ddpm or SamplerKind.Ddim)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, $"{kind} can take at most the process's {diffusion.NumTimesteps} steps");

        switch (kind)
        {
            case SamplerKind.Ddpm:
                return Respaced(diffusion, steps).PSampleLoop(network, shape, noise, clipDenoised, y, progress);
            case SamplerKind.Ddim:
                return Respaced(diffusion, steps).DdimSampleLoop(network, shape, noise, 0.0, clipDenoised, y, progress);
        }

        var model = new DataPrediction(diffusion, network, clipDenoised, y);
        using var gradients = no_grad();
        using var scope = NewDisposeScope();
        var xT = noise.Next(shape);
        var result = kind switch
        {
            SamplerKind.DpmSolverPlusPlus2M => OdeSolvers.DpmSolverPlusPlus2M(model, xT, DpmSolverTimes(model.Schedule, steps), progress),
            SamplerKind.KarrasHeun => OdeSolvers.Karras(model, xT, KarrasSigmas(model.Schedule, steps), heun: true, progress),
            SamplerKind.KarrasEuler => OdeSolvers.Karras(model, xT, KarrasSigmas(model.Schedule, steps), heun: false, progress),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown sampler"),
        };
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Network evaluations of one <see cref="Sample"/> call: <paramref name="steps"/>, except Heun, which evaluates twice
    /// per step but once on its first and last (Euler) steps: 2·steps − 2 (1 for a single step). Every evaluation
    /// counts, the first included; none is cached across calls.
    /// </summary>
    public static int NetworkEvaluations(SamplerKind kind, int steps) =>
        kind == SamplerKind.KarrasHeun && steps > 1 ? (2 * steps) - 2 : steps;

    /// <summary>The most steps whose <see cref="NetworkEvaluations"/> stay within <paramref name="evaluations"/>.</summary>
    public static int StepsWithin(SamplerKind kind, int evaluations) =>
        kind == SamplerKind.KarrasHeun && evaluations > 1 ? (evaluations + 2) / 2 : evaluations;

    /// <summary>The fewest steps <paramref name="kind"/> accepts (a respacing to one step is refused, as the reference crashes on it).</summary>
    public static int MinimumSteps(SamplerKind kind) => kind is SamplerKind.Ddpm or SamplerKind.Ddim ? 2 : 1;

    /// <summary>
    /// The times at which DPM-Solver++(2M) evaluates the network, from T−1 down to 0 (fractional): uniform in
    /// λ = log(α/σ) from λ = <see cref="DpmSolverLambdaMin"/> (or λ at T−1 if higher) to λ at t = 0, with a first
    /// step from T−1 to there when the schedule reaches lower.
    /// </summary>
    /// <remarks>
    /// DPM-Solver offers time-uniform and logSNR-uniform steps for discrete-time models and recommends logSNR for
    /// low-resolution images (time-uniform for high-resolution ones; diffusers defaults to time-uniform). It also clips
    /// the cosine schedule at λ = −5.1, where the top few training steps plunge to λ = −10 (T = 1000; the last step
    /// alone, its β clipped at 0.999, falls by 3.5), and starts there. We start at T−1 like every sampler here and take
    /// that plunge in one first-order step, then space the rest uniformly in λ. Measured RMSE to DDIM over all 1000 steps
    /// on the Quickstart model after 600 training steps, clipped x_0, 10 / 20 / 50 evaluations: time-uniform
    /// 0.056 / 0.027 / 0.011, logSNR-uniform from T−1 0.062 / 0.012 / 0.0027, this 0.033 / 0.0068 / 0.0026 (DDIM
    /// 0.061 / 0.032 / 0.014). Time-uniform wins only at 5 evaluations (0.11 against 0.18) and on Gaussian data, whose
    /// x_0 prediction stops changing at low noise (tests/Runtime/Samplers).
    /// The last time is 0 and the sample is the x_0 predicted there: DPM-Solver with <c>denoise_to_zero</c>, so N
    /// evaluations make N − 1 solver steps and the final step to ᾱ = 1, like DDIM's last step.
    /// </remarks>
    public static double[] DpmSolverTimes(InterpolatedSchedule schedule, int steps)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var times = new double[steps];
        times[0] = schedule.LastTime;
        if (steps == 1) return times;
        var lambdaTop = schedule.Lambda(schedule.LastTime);
        var first = lambdaTop < DpmSolverLambdaMin ? 1 : 0; // the index where the λ-uniform spacing starts
        var lambdaStart = Math.Max(lambdaTop, DpmSolverLambdaMin);
        var lambdaEnd = schedule.Lambda(0);
        var points = steps - first;
        for (var i = 0; i < points; i++)
        {
            times[first + i] = points == 1 ? 0 : schedule.TimeOfLambda(lambdaStart + ((lambdaEnd - lambdaStart) * i / (points - 1)));
        }
        times[0] = schedule.LastTime; // the exact ends, not a rounded round trip through λ
        times[^1] = 0;
        return times;
    }

    /// <summary>
    /// Karras et al.'s noise levels, <paramref name="steps"/> of them then 0: σ_i^(1/ρ) uniform from σ_max down to the
    /// model's σ_min (at t = 0). σ is the noise scale of x_t/α_t, √((1 − ᾱ_t)/ᾱ_t). When the model's own σ at t = T−1
    /// exceeds <see cref="KarrasSigmaMax"/>, the first level is that σ (sampling starts at T−1, like every sampler here)
    /// and the other <paramref name="steps"/> − 1 follow the spacing from <see cref="KarrasSigmaMax"/> down.
    /// </summary>
    /// <remarks>
    /// Karras et al. sample σ ∈ [0.002, 80] for every model they evaluate. The cosine schedule's σ at T−1 is 2·10⁴
    /// (T = 1000) or 8·10⁴ (T = 4000), and the ρ-spacing from there would spend a small budget's levels where the
    /// trajectory is a straight line (x_t/α_t ≈ x_0 + σ·ε, nearly linear in σ): one step from there to 80 suffices.
    /// Measured on Gaussian data (tests/Runtime/Samplers), 50 evaluations: Heun's RMSE 0.096 from the model's σ_max (Algorithm 1
    /// as it stands), 0.011 with the jump to 80 (and the first step Euler's, see OdeSolvers.Karras).
    /// </remarks>
    public static double[] KarrasSigmas(InterpolatedSchedule schedule, int steps)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var modelMax = schedule.KarrasSigma(schedule.LastTime);
        var sigmaMin = schedule.KarrasSigma(0);
        var sigmas = new double[steps + 1];
        sigmas[0] = modelMax;
        var first = modelMax > KarrasSigmaMax ? 1 : 0; // the index where the ρ-spacing starts
        var sigmaMax = Math.Min(modelMax, KarrasSigmaMax);
        var levels = steps - first;
        for (var i = 0; i < levels; i++)
        {
            var fraction = levels == 1 ? 0 : (double)i / (levels - 1);
            var root = Math.Pow(sigmaMax, 1 / KarrasRho) + (fraction * (Math.Pow(sigmaMin, 1 / KarrasRho) - Math.Pow(sigmaMax, 1 / KarrasRho)));
            sigmas[first + i] = Math.Pow(root, KarrasRho);
        }
        sigmas[0] = modelMax;
        if (levels > 1) sigmas[steps - 1] = sigmaMin; // the model's own σ_min, not a rounded round trip
        sigmas[steps] = 0;
        return sigmas;
    }

    static GaussianDiffusion Respaced(GaussianDiffusion diffusion, int steps) =>
        new(diffusion.Tables, diffusion.MeanType, diffusion.VarType, diffusion.LossType, diffusion.RescaleTimesteps,
            steps.ToString(CultureInfo.InvariantCulture));
}
