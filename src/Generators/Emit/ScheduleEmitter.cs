using ImprovedDdpm.Generators.Model;

namespace ImprovedDdpm.Generators.Emit;

/// <summary>
/// <c>M.Schedule</c>: the float64 tables of the base process, computed at compile time by the same code the Runtime runs
/// (linked into the generator) and written as round-trip literals. Each table is a <c>ReadOnlySpan&lt;double&gt;</c> over
/// an array initialiser, which the compiler stores as raw data in the assembly: no allocation, no static constructor,
/// 8 bytes per value (13 × T × 8 bytes: 416 KB at T = 4000).
/// </summary>
internal static class ScheduleEmitter
{
    const int ValuesPerLine = 8;

    public static string Emit(ModelSpec spec)
    {
        var diffusion = spec.Diffusion;
        var tables = new DiffusionTables(BetaSchedules.Create(diffusion.Schedule, diffusion.Steps));
        var writer = SourceWriter.ForModel(spec, "System", "ImprovedDdpm");
        writer.Line("/// <summary>");
        writer.Line($"/// The {diffusion.Steps}-step {diffusion.Schedule.ToString().ToLowerInvariant()} schedule and every table the reference's <c>GaussianDiffusion</c>");
        writer.Line("/// derives from it, float64, indexed by t. Computed at compile time; each value is bit-exact.");
        writer.Line("/// </summary>");
        writer.Open("public static class Schedule");
        writer.Line("/// <summary>The number of diffusion steps T.</summary>");
        writer.Line($"public const int Steps = {Literal.Of(diffusion.Steps)};");
        writer.Line();
        writer.Line("/// <summary>Every table as the Runtime's <see cref=\"DiffusionTables\"/> (fresh arrays on each call).</summary>");
        writer.Line("public static DiffusionTables ToTables() => DiffusionTables.FromTables(");
        writer.Indent();
        var names = Tables(tables).Select(t => t.Name).ToArray();
        for (var i = 0; i < names.Length; i++) writer.Line($"{names[i]}.ToArray(){(i == names.Length - 1 ? ");" : ",")}");
        writer.Outdent();

        foreach (var (name, about, values) in Tables(tables))
        {
            writer.Line();
            writer.Line($"/// <summary>{about}</summary>");
            writer.Open($"public static ReadOnlySpan<double> {name} => new double[]");
            for (var start = 0; start < values.Length; start += ValuesPerLine)
                writer.Line(string.Join(", ", values.Skip(start).Take(ValuesPerLine).Select(Literal.Of)) + ",");
            writer.Close(";");
        }
        writer.Close();
        writer.Close();
        return writer.ToString();
    }

    static IEnumerable<(string Name, string About, double[] Values)> Tables(DiffusionTables t) =>
    [
        (nameof(t.Betas), "β_t.", t.Betas),
        (nameof(t.AlphasCumprod), "ᾱ_t = Π_{s≤t} (1 − β_s).", t.AlphasCumprod),
        (nameof(t.AlphasCumprodPrev), "ᾱ_{t−1}, with 1 at t = 0.", t.AlphasCumprodPrev),
        (nameof(t.AlphasCumprodNext), "ᾱ_{t+1}, with 0 at t = T − 1.", t.AlphasCumprodNext),
        (nameof(t.SqrtAlphasCumprod), "√ᾱ_t.", t.SqrtAlphasCumprod),
        (nameof(t.SqrtOneMinusAlphasCumprod), "√(1 − ᾱ_t).", t.SqrtOneMinusAlphasCumprod),
        (nameof(t.LogOneMinusAlphasCumprod), "log(1 − ᾱ_t).", t.LogOneMinusAlphasCumprod),
        (nameof(t.SqrtRecipAlphasCumprod), "√(1/ᾱ_t).", t.SqrtRecipAlphasCumprod),
        (nameof(t.SqrtRecipm1AlphasCumprod), "√(1/ᾱ_t − 1).", t.SqrtRecipm1AlphasCumprod),
        (nameof(t.PosteriorVariance), "β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), the variance of q(x_{t−1} | x_t, x_0).", t.PosteriorVariance),
        (nameof(t.PosteriorLogVarianceClipped), "log β̃_t, with t = 1's value at t = 0 (where β̃ is 0).", t.PosteriorLogVarianceClipped),
        (nameof(t.PosteriorMeanCoef1), "The posterior mean's coefficient of x_0: β_t √ᾱ_{t−1} / (1 − ᾱ_t).", t.PosteriorMeanCoef1),
        (nameof(t.PosteriorMeanCoef2), "The posterior mean's coefficient of x_t: (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t).", t.PosteriorMeanCoef2),
    ];
}
