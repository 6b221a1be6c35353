using System.Globalization;

namespace ImprovedDdpm;

/// <summary>
/// What each training setting must be, in one place for compile time and run time: the generator reports a broken
/// <c>[Training]</c> argument with these words (this file is linked into it, as Schedules/ is) and
/// <c>TrainingOptions.Validate</c> refuses the same values at run time, whether they come from code or from the
/// command line. Each check returns null for a valid value, else what the value must be ("a positive learning rate").
/// </summary>
/// <remarks>Plain C# for netstandard2.0, so the generator can compile it too.</remarks>
public static class TrainingRules
{
    public static string? Lr(double lr) => lr > 0 && !double.IsInfinity(lr) ? null : "a finite positive learning rate";

    public static string? BatchSize(int images) => images >= 1 ? null : "a positive number of images";

    /// <summary>−1 trains on the whole batch at once (the reference's default); a positive size splits it.</summary>
    public static string? Microbatch(int images) => images >= 1 || images == -1 ? null : "-1 (the whole batch at once) or a positive number of images";

    public static string? WeightDecay(double decay) => decay >= 0 && !double.IsInfinity(decay) ? null : "0 or a finite positive decay";

    public static string? LrAnnealSteps(long steps) => steps >= 0 ? null : "0 (no annealing) or a positive number of steps";

    /// <summary>The log and save intervals.</summary>
    public static string? Interval(long steps) => steps >= 1 ? null : "a positive number of steps";

    /// <summary>Each rate in [0, 1] (the weight of the old average) and no rate twice, since each names its own file.</summary>
    public static string? EmaRates(IReadOnlyList<double> rates)
    {
        for (var i = 0; i < rates.Count; i++)
        {
            if (!(rates[i] >= 0 && rates[i] <= 1)) return "rates in [0, 1]";
            for (var j = 0; j < i; j++)
            {
                if (rates[j] == rates[i]) return "rates that differ (each average is saved under its rate)";
            }
        }
        return null;
    }

    /// <summary>
    /// The reference's comma-separated <c>--ema_rate</c> ("0.9999,0.99"; empty: no average) into
    /// <paramref name="rates"/>; returns null, or what the text must be.
    /// </summary>
    public static string? ParseEmaRates(string text, out double[] rates)
    {
        rates = [];
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',');
        var parsed = new double[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out parsed[i]))
                return "comma-separated rates in [0, 1], like \"0.9999\" or \"0.9999,0.999\" ('" + parts[i].Trim() + "' is not a number)";
        }
        if (EmaRates(parsed) is { } rule) return "comma-separated " + rule + ", like \"0.9999\" or \"0.9999,0.999\"";
        rates = parsed;
        return null;
    }
}
