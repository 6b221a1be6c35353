using System.Globalization;

namespace ImprovedDdpm;

/// <summary>
/// Timestep respacing with the reference's semantics (<c>space_timesteps</c> and <c>SpacedDiffusion</c>; paper §4.3):
/// which of the original steps to keep, and the betas of the shorter process that visits only those.
/// Pure C#, shared with the source generator so an impossible <c>TimestepRespacing</c> is a compile error.
/// </summary>
public static class TimestepRespacing
{
    /// <summary>
    /// The kept timesteps, ascending. <paramref name="spec"/> is empty (keep all), a comma-separated list of counts
    /// per equal section (<c>"250"</c>, <c>"10,15,20"</c>), or <c>"ddimN"</c> (an integer stride giving exactly N).
    /// </summary>
    /// <exception cref="ArgumentException">The request cannot be met; the message says why and what would work.</exception>
    public static int[] SpaceTimesteps(int numTimesteps, string? spec)
    {
        var error = TrySpaceTimesteps(numTimesteps, spec, out var steps);
        if (error is not null) throw new ArgumentException(error, nameof(spec));
        return steps;
    }

    /// <summary>As <see cref="SpaceTimesteps"/>, returning the error message instead of throwing (null when valid).</summary>
    public static string? TrySpaceTimesteps(int numTimesteps, string? spec, out int[] steps)
    {
        steps = Array.Empty<int>();
        if (numTimesteps <= 0) return $"the number of diffusion steps must be positive, got {numTimesteps}";
        spec = (spec ?? "").Trim();
        var kept = new SortedSet<int>();
        if (spec.Length == 0)
        {
            for (var i = 0; i < numTimesteps; i++) kept.Add(i);
        }
        else if (spec.StartsWith("ddim", StringComparison.Ordinal))
        {
            var countText = spec.Substring(4);
            if (!int.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out var desired) || desired <= 0)
                return $"respacing \"{spec}\": after \"ddim\" give a positive number of steps, e.g. \"ddim50\"";
            var stride = 0;
            for (var i = 1; i < numTimesteps && stride == 0; i++)
            {
                if ((numTimesteps + i - 1) / i == desired) stride = i;
            }
            // The reference's message here prints the total number of steps; this one names the requested count.
            if (stride == 0)
                return $"respacing \"{spec}\": cannot create exactly {desired} steps from {numTimesteps} with an integer stride";
            for (var t = 0; t < numTimesteps; t += stride) kept.Add(t);
        }
        else
        {
            var parts = spec.Split(',');
            var counts = new int[parts.Length];
            for (var p = 0; p < parts.Length; p++)
            {
                if (!int.TryParse(parts[p].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out counts[p]) || counts[p] <= 0)
                    return $"respacing \"{spec}\": \"{parts[p].Trim()}\" is not a positive step count; use counts such as \"250\" or \"10,15,20\", or \"ddimN\"";
            }
            var sizePer = numTimesteps / counts.Length;
            var extra = numTimesteps % counts.Length;
            var startIndex = 0;
            for (var p = 0; p < counts.Length; p++)
            {
                var size = sizePer + (p < extra ? 1 : 0);
                if (size < counts[p])
                    return $"respacing \"{spec}\": cannot divide section {p} of {size} steps into {counts[p]}";
                var fracStride = counts[p] <= 1 ? 1.0 : (double)(size - 1) / (counts[p] - 1);
                var current = 0.0;
                for (var k = 0; k < counts[p]; k++)
                {
                    // Python's round(): halves go to the even neighbour.
                    kept.Add(startIndex + (int)Math.Round(current, MidpointRounding.ToEven));
                    current += fracStride;
                }
                startIndex += size;
            }
        }
        if (kept.Count < 2)
            return $"respacing \"{spec}\" keeps a single step; a diffusion process needs at least 2 (the posterior at t = 0 uses t = 1)";
        steps = new int[kept.Count];
        kept.CopyTo(steps);
        return null;
    }

    /// <summary>
    /// The betas of the process that visits only <paramref name="keptTimesteps"/> (ascending) of a process with cumulative
    /// products <paramref name="alphasCumprod"/>: β'_k = 1 − ᾱ_{t_k} / ᾱ_{t_{k−1}}, with ᾱ before the first kept step = 1.
    /// </summary>
    public static double[] RespacedBetas(double[] alphasCumprod, int[] keptTimesteps)
    {
        var betas = new double[keptTimesteps.Length];
        var last = 1.0;
        for (var k = 0; k < keptTimesteps.Length; k++)
        {
            var alphaBar = alphasCumprod[keptTimesteps[k]];
            betas[k] = 1 - alphaBar / last;
            last = alphaBar;
        }
        return betas;
    }
}
