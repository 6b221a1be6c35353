using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>One sampler at one budget of network evaluations.</summary>
/// <param name="Budget">The evaluations asked for.</param>
/// <param name="Steps">The steps that fit the budget (<see cref="DiffusionSamplers.StepsWithin"/>).</param>
/// <param name="Evaluations">The evaluations actually made: Heun's 2·steps − 1 may fall one short of an even budget.</param>
/// <param name="Rmse">Root mean square difference to the ground truth over every pixel of every seed, in [-1, 1] units.</param>
public sealed record SamplerError(SamplerKind Kind, int Budget, int Steps, int Evaluations, double Rmse);

/// <summary>What <see cref="SamplerAccuracy.Measure"/> found.</summary>
/// <param name="GroundTruthEvaluations">T: DDIM (η = 0) over every step of the process.</param>
/// <param name="Samples">Images per seed times seeds: the number of endpoints compared.</param>
public sealed record SamplerAccuracyTable(int GroundTruthEvaluations, int Samples, bool ClipDenoised, IReadOnlyList<SamplerError> Errors)
{
    /// <summary>The error of one sampler at one budget.</summary>
    public SamplerError Of(SamplerKind kind, int budget) => Errors.Single(e => e.Kind == kind && e.Budget == budget);

    /// <summary>A Markdown table: a row per sampler, a column per budget, each cell the RMSE (and the evaluations made when fewer than the budget).</summary>
    public string ToMarkdown()
    {
        var budgets = Errors.Select(e => e.Budget).Distinct().ToList();
        var text = new StringBuilder();
        text.Append("| sampler |");
        foreach (var budget in budgets) text.Append(CultureInfo.InvariantCulture, $" {budget} NFE |");
        text.AppendLine();
        text.Append("|---|");
        foreach (var _ in budgets) text.Append("---:|");
        text.AppendLine();
        foreach (var kind in Errors.Select(e => e.Kind).Distinct())
        {
            text.Append(CultureInfo.InvariantCulture, $"| {DisplayName(kind)} |");
            foreach (var budget in budgets)
            {
                var error = Of(kind, budget);
                text.Append(CultureInfo.InvariantCulture, $" {error.Rmse:F4}");
                if (error.Evaluations != budget) text.Append(CultureInfo.InvariantCulture, $" ({error.Evaluations})");
                text.Append(" |");
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    /// <summary>The name papers and other libraries give the sampler.</summary>
    public static string DisplayName(SamplerKind kind) => kind switch
    {
        SamplerKind.Ddpm => "DDPM (ancestral)",
        SamplerKind.Ddim => "DDIM (η = 0)",
        SamplerKind.DpmSolverPlusPlus2M => "DPM-Solver++(2M)",
        SamplerKind.KarrasHeun => "Heun (Karras σ)",
        SamplerKind.KarrasEuler => "Euler (Karras σ)",
        _ => kind.ToString(),
    };
}

/// <summary>
/// How close each deterministic sampler gets to the exact endpoint of the probability-flow ODE for a given number of
/// network evaluations (NFE), with no image statistics or Inception weights involved. For fixed x_T (one per seed)
/// the ground truth is DDIM with η = 0 over all T steps of the process, itself a first-order solver but with the
/// finest steps the model has (its remaining error shrinks like 1/T); each sampler's endpoint from the same x_T is
/// compared with it by RMSE.
/// </summary>
public static class SamplerAccuracy
{
    /// <summary>The budgets of the table.</summary>
    public static IReadOnlyList<int> DefaultBudgets { get; } = [5, 10, 20, 50];

    /// <summary>The deterministic samplers (DDPM is stochastic: it samples another image, not the ODE's).</summary>
    public static IReadOnlyList<SamplerKind> DeterministicSamplers { get; } =
        [SamplerKind.Ddim, SamplerKind.DpmSolverPlusPlus2M, SamplerKind.KarrasHeun, SamplerKind.KarrasEuler];

    /// <param name="diffusion">The full process the network was trained on.</param>
    /// <param name="shape">[N, C, H, W] per seed.</param>
    /// <param name="seeds">x_T of each is the first draw of a <see cref="SeededNoiseSource"/> with that seed.</param>
    /// <param name="clipDenoised">On by default, as sampling clips: unclipped, the ODE of a briefly trained model can leave
    /// the image range by orders of magnitude (the Quickstart model after 300 training steps ends within ±3·10⁴), and the
    /// RMSE then measures that. Clipped, the right-hand side is not smooth, so the solvers' orders need not show.</param>
    /// <param name="y">Class labels [N] for a class-conditional network, the same for every seed.</param>
    /// <param name="progress">Told what is being computed.</param>
    public static SamplerAccuracyTable Measure(GaussianDiffusion diffusion, IDiffusionNetwork network, long[] shape, IReadOnlyList<long> seeds,
        IReadOnlyList<int>? budgets = null, IReadOnlyList<SamplerKind>? kinds = null, bool clipDenoised = true, Tensor? y = null,
        IProgress<string>? progress = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(diffusion);
        ArgumentNullException.ThrowIfNull(seeds);
        if (seeds.Count == 0) throw new ArgumentException("give at least one seed", nameof(seeds));
        budgets ??= DefaultBudgets;
        kinds ??= DeterministicSamplers;
        if (kinds.Contains(SamplerKind.Ddpm))
            throw new ArgumentException("DDPM is stochastic: its endpoint is another sample, not an approximation of the ODE's", nameof(kinds));

        using var scope = NewDisposeScope();
        var truths = new List<Tensor>();
        foreach (var seed in seeds)
        {
            progress?.Report($"ground truth for seed {seed}: DDIM over all {diffusion.NumTimesteps} steps");
            truths.Add(Run(diffusion, network, shape, seed, SamplerKind.Ddim, diffusion.NumTimesteps, clipDenoised, y, device));
        }

        var errors = new List<SamplerError>();
        foreach (var kind in kinds)
        {
            foreach (var budget in budgets)
            {
                var steps = DiffusionSamplers.StepsWithin(kind, budget);
                progress?.Report($"{SamplerAccuracyTable.DisplayName(kind)}, {steps} steps");
                double squares = 0;
                long count = 0;
                for (var s = 0; s < seeds.Count; s++)
                {
                    using var seedScope = NewDisposeScope();
                    var sample = Run(diffusion, network, shape, seeds[s], kind, steps, clipDenoised, y, device);
                    var difference = (sample - truths[s]).to(ScalarType.Float64);
                    squares += (difference * difference).sum().item<double>();
                    count += sample.numel();
                }
                errors.Add(new SamplerError(kind, budget, steps, DiffusionSamplers.NetworkEvaluations(kind, steps), Math.Sqrt(squares / count)));
            }
        }
        return new SamplerAccuracyTable(diffusion.NumTimesteps, (int)shape[0] * seeds.Count, clipDenoised, errors);
    }

    static Tensor Run(GaussianDiffusion diffusion, IDiffusionNetwork network, long[] shape, long seed, SamplerKind kind, int steps,
        bool clipDenoised, Tensor? y, Device? device)
    {
        using var noise = new SeededNoiseSource(seed, device);
        return DiffusionSamplers.Sample(diffusion, network, shape, noise, kind, steps, clipDenoised, y);
    }
}
