namespace ImprovedDdpm;

/// <summary>An Inception Score: the mean over splits and its standard deviation (population, <c>np.std</c>).</summary>
public sealed record InceptionScoreResult(double Mean, double StandardDeviation);

/// <summary>
/// The Inception Score of Salimans et al. (2016), computed as openai/improved-gan's <c>get_inception_score</c> (and
/// guided-diffusion's evaluator after it) does: the N samples are cut into <c>splits</c> consecutive chunks
/// [i·N/splits, (i+1)·N/splits) (integer division); each chunk scores exp(mean_x KL(p(y|x) ‖ p(y))) with p(y) the chunk's
/// mean prediction; the result is the mean and the population standard deviation of those scores. Float64 throughout.
/// </summary>
public static class InceptionScore
{
    /// <summary>The field's default number of splits.</summary>
    public const int DefaultSplits = 10;

    /// <summary>
    /// From class probabilities [N, classes] (softmax outputs; each row non-negative and summing to 1 within 1e-3).
    /// A probability of exactly 0 contributes 0 (the limit of p·log p); the reference's <c>p·log p</c> gives NaN there,
    /// which softmax outputs of finite logits in float64 never reach in practice.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer samples than splits, or rows that are not probability vectors.</exception>
    public static InceptionScoreResult FromProbabilities(double[,] probabilities, int splits = DefaultSplits)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        var (n, classes) = (probabilities.GetLength(0), probabilities.GetLength(1));
        ArgumentOutOfRangeException.ThrowIfLessThan(splits, 1);
        if (n < splits) throw new ArgumentException($"{n} samples cannot be cut into {splits} splits", nameof(probabilities));
        for (var i = 0; i < n; i++)
        {
            var sum = 0.0;
            for (var c = 0; c < classes; c++)
            {
                var p = probabilities[i, c];
                if (!(p >= 0 && p <= 1)) throw new ArgumentException($"probability [{i}, {c}] is {p}", nameof(probabilities));
                sum += p;
            }
            if (Math.Abs(sum - 1) > 1e-3)
                throw new ArgumentException($"row {i} sums to {sum}, not 1 (pass logits to FromLogits)", nameof(probabilities));
        }

        var scores = new double[splits];
        var marginal = new double[classes];
        for (var s = 0; s < splits; s++)
        {
            var (start, end) = ((int)((long)s * n / splits), (int)((long)(s + 1) * n / splits));
            Array.Clear(marginal);
            for (var i = start; i < end; i++)
                for (var c = 0; c < classes; c++) marginal[c] += probabilities[i, c];
            for (var c = 0; c < classes; c++) marginal[c] /= end - start;
            var klSum = 0.0;
            for (var i = start; i < end; i++)
            {
                var kl = 0.0;
                for (var c = 0; c < classes; c++)
                {
                    var p = probabilities[i, c];
                    if (p > 0) kl += p * (Math.Log(p) - Math.Log(marginal[c]));
                }
                klSum += kl;
            }
            scores[s] = Math.Exp(klSum / (end - start));
        }
        var mean = scores.Average();
        var variance = scores.Sum(score => (score - mean) * (score - mean)) / splits;
        return new InceptionScoreResult(mean, Math.Sqrt(variance));
    }

    /// <summary>From classifier logits [N, classes]: a float64 softmax per row, then <see cref="FromProbabilities"/>.</summary>
    public static InceptionScoreResult FromLogits(double[,] logits, int splits = DefaultSplits) =>
        FromProbabilities(Softmax(logits), splits);

    /// <summary>Row-wise softmax in float64, the maximum subtracted first.</summary>
    public static double[,] Softmax(double[,] logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        var (n, classes) = (logits.GetLength(0), logits.GetLength(1));
        var probabilities = new double[n, classes];
        for (var i = 0; i < n; i++)
        {
            var max = double.NegativeInfinity;
            for (var c = 0; c < classes; c++) max = Math.Max(max, logits[i, c]);
            var sum = 0.0;
            for (var c = 0; c < classes; c++) sum += probabilities[i, c] = Math.Exp(logits[i, c] - max);
            for (var c = 0; c < classes; c++) probabilities[i, c] /= sum;
        }
        return probabilities;
    }
}
