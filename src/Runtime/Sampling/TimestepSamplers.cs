namespace ImprovedDdpm;

/// <summary>Timesteps drawn for one batch, with the importance weights 1/(T·p_t) that keep the loss unbiased.</summary>
public sealed record TimestepSample(long[] Timesteps, double[] Weights);

/// <summary>
/// How training timesteps are drawn (reference: <c>resample.py</c>). Losses are fed back after every step; samplers
/// that do not learn from them ignore them.
/// </summary>
public interface IScheduleSampler
{
    int NumTimesteps { get; }

    /// <summary>Unnormalised weights per timestep; p_t = w_t / Σw.</summary>
    double[] Weights();

    /// <summary>Feeds back the per-example losses of a step (reference: <c>update_with_all_losses</c>).</summary>
    void UpdateWithAllLosses(long[] timesteps, double[] losses);
}

/// <summary>Drawing from any <see cref="IScheduleSampler"/> (reference: <c>ScheduleSampler.sample</c>).</summary>
public static class ScheduleSamplers
{
    /// <summary>p_t = w_t / Σw.</summary>
    public static double[] Probabilities(this IScheduleSampler sampler)
    {
        var weights = sampler.Weights();
        var sum = weights.Sum();
        return weights.Select(w => w / sum).ToArray();
    }

    /// <summary>
    /// The importance weight 1/(T·p_t) of every timestep: what <see cref="Sample"/> returns beside each drawn t so that
    /// the weighted loss is unbiased (reference: the <c>weights</c> of <c>ScheduleSampler.sample</c>).
    /// </summary>
    public static double[] ImportanceWeights(this IScheduleSampler sampler)
    {
        var p = sampler.Probabilities();
        return p.Select(pt => 1.0 / (p.Length * pt)).ToArray();
    }

    /// <summary>Draws <paramref name="batchSize"/> timesteps ∝ the weights, with importance weights 1/(T·p_t).</summary>
    public static TimestepSample Sample(this IScheduleSampler sampler, int batchSize, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var p = sampler.Probabilities();
        var cumulative = new double[p.Length];
        var running = 0.0;
        for (var i = 0; i < p.Length; i++) cumulative[i] = running += p[i];
        var timesteps = new long[batchSize];
        var weights = new double[batchSize];
        for (var b = 0; b < batchSize; b++)
        {
            var u = random.NextDouble() * running;
            var index = Array.BinarySearch(cumulative, u);
            var t = index >= 0 ? index : Math.Min(~index, p.Length - 1);
            while (p[t] == 0) t--; // never land on a zero-probability step through rounding at the top end
            timesteps[b] = t;
            weights[b] = 1.0 / (p.Length * p[t]);
        }
        return new TimestepSample(timesteps, weights);
    }

    /// <summary>The sampler the reference names <c>uniform</c> or <c>loss-second-moment</c>.</summary>
    public static IScheduleSampler Create(ScheduleSampler kind, int numTimesteps) => kind switch
    {
        ScheduleSampler.Uniform => new UniformSampler(numTimesteps),
        ScheduleSampler.LossSecondMoment => new LossSecondMomentResampler(numTimesteps),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown schedule sampler"),
    };
}

/// <summary>t uniform over [0, T) (reference: <c>UniformSampler</c>).</summary>
public sealed class UniformSampler : IScheduleSampler
{
    public UniformSampler(int numTimesteps)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numTimesteps);
        NumTimesteps = numTimesteps;
    }

    public int NumTimesteps { get; }

    public double[] Weights() => Enumerable.Repeat(1.0, NumTimesteps).ToArray();

    public void UpdateWithAllLosses(long[] timesteps, double[] losses) { }
}

/// <summary>
/// Importance sampling of L_vlb (paper §3.3, eq. 18; reference: <c>LossSecondMomentResampler</c>): keeps the last
/// <c>historyPerTerm</c> losses of every t; once every t has that many, p_t ∝ sqrt(E[L_t²]) mixed with
/// <c>uniformProb</c> of the uniform distribution. Before that, uniform.
/// </summary>
public sealed class LossSecondMomentResampler : IScheduleSampler
{
    readonly double[,] history;
    readonly int[] counts;

    public LossSecondMomentResampler(int numTimesteps, int historyPerTerm = 10, double uniformProb = 0.001)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numTimesteps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(historyPerTerm);
        if (!(uniformProb >= 0 && uniformProb <= 1))
            throw new ArgumentOutOfRangeException(nameof(uniformProb), uniformProb, "the uniform mixing probability must be in [0, 1]");
        NumTimesteps = numTimesteps;
        HistoryPerTerm = historyPerTerm;
        UniformProb = uniformProb;
        history = new double[numTimesteps, historyPerTerm];
        counts = new int[numTimesteps];
    }

    public int NumTimesteps { get; }
    public int HistoryPerTerm { get; }
    public double UniformProb { get; }

    /// <summary>True once every timestep has a full history.</summary>
    public bool WarmedUp => counts.All(c => c == HistoryPerTerm);

    public double[] Weights()
    {
        if (!WarmedUp) return Enumerable.Repeat(1.0, NumTimesteps).ToArray();
        var weights = new double[NumTimesteps];
        for (var t = 0; t < NumTimesteps; t++)
        {
            var sumOfSquares = 0.0;
            for (var k = 0; k < HistoryPerTerm; k++) sumOfSquares += history[t, k] * history[t, k];
            weights[t] = Math.Sqrt(sumOfSquares / HistoryPerTerm);
        }
        var total = weights.Sum();
        for (var t = 0; t < NumTimesteps; t++)
            weights[t] = weights[t] / total * (1 - UniformProb) + UniformProb / NumTimesteps;
        return weights;
    }

    /// <summary>
    /// The losses held for each timestep, oldest first (at most <see cref="HistoryPerTerm"/> each): what a resumed
    /// run needs to draw timesteps as the uninterrupted run would.
    /// </summary>
    public double[][] History()
    {
        var result = new double[NumTimesteps][];
        for (var t = 0; t < NumTimesteps; t++)
        {
            result[t] = new double[counts[t]];
            for (var k = 0; k < counts[t]; k++) result[t][k] = history[t, k];
        }
        return result;
    }

    /// <summary>Replaces the held losses with <paramref name="losses"/> (as <see cref="History"/> returns them).</summary>
    public void RestoreHistory(double[][] losses)
    {
        ArgumentNullException.ThrowIfNull(losses);
        if (losses.Length != NumTimesteps)
            throw new ArgumentException($"the history has {losses.Length} timesteps, this sampler {NumTimesteps}", nameof(losses));
        for (var t = 0; t < NumTimesteps; t++)
        {
            if (losses[t].Length > HistoryPerTerm)
                throw new ArgumentException($"timestep {t} holds {losses[t].Length} losses; this sampler keeps {HistoryPerTerm}", nameof(losses));
        }
        Array.Clear(history);
        for (var t = 0; t < NumTimesteps; t++)
        {
            counts[t] = losses[t].Length;
            for (var k = 0; k < counts[t]; k++) history[t, k] = losses[t][k];
        }
    }

    public void UpdateWithAllLosses(long[] timesteps, double[] losses)
    {
        if (timesteps.Length != losses.Length)
            throw new ArgumentException($"{timesteps.Length} timesteps but {losses.Length} losses");
        for (var i = 0; i < timesteps.Length; i++)
        {
            var t = checked((int)timesteps[i]);
            if (t < 0 || t >= NumTimesteps)
                throw new ArgumentOutOfRangeException(nameof(timesteps), t, $"timestep outside [0, {NumTimesteps})");
            if (counts[t] == HistoryPerTerm)
            {
                // Full: drop the oldest loss.
                for (var k = 0; k < HistoryPerTerm - 1; k++) history[t, k] = history[t, k + 1];
                history[t, HistoryPerTerm - 1] = losses[i];
            }
            else
            {
                history[t, counts[t]] = losses[i];
                counts[t]++;
            }
        }
    }
}
