using System.Globalization;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>What <c>nll</c> does (the reference's <c>image_nll.py</c>), as options.</summary>
/// <param name="NumSamples">Evaluate the first this many images; null: all.</param>
public sealed record NllOptions(
    string DataPath,
    string ModelPath,
    int BatchSize = 16,
    int? NumSamples = null,
    string? Respacing = null,
    bool ClipDenoised = true,
    long Seed = 0,
    Device? Device = null);

/// <summary>Bits per dimension over a dataset: the mean, its standard error, and the per-step terms averaged over the
/// images, indexed by t (ascending).</summary>
public sealed record NllResult(int Count, double MeanBpd, double StandardError, double[] PriorBpd, double[] VbPerStep, double[] MsePerStep)
{
    /// <summary>Writes the per-step terms as CSV: t, vb (bits/dim), mse.</summary>
    public void WriteTermsCsv(string path)
    {
        var lines = new List<string> { "t,vb_bpd,xstart_mse" };
        for (var t = 0; t < VbPerStep.Length; t++)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{t},{VbPerStep[t]:R},{MsePerStep[t]:R}"));
        File.WriteAllLines(path, lines);
    }
}

/// <summary>
/// The variational bound in bits per dimension over a dataset, in order (reference: <c>image_nll.py</c> with
/// <c>calc_bpd_loop</c>). Batch b's noise is seeded by (seed, b) alone.
/// </summary>
public static class NllEvaluation
{
    /// <param name="progress">Told the images done, the total and the running mean after each batch.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    public static NllResult Run(ModelDefinition model, NllOptions options, IProgress<(int Done, int Total, double Mean)>? progress = null, CancellationToken cancellationToken = default)
    {
        if (options.BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1; got {options.BatchSize}");
        if (options.NumSamples is < 1) throw new ArgumentException($"--num-samples must be at least 1; got {options.NumSamples}");
        var data = ImageDatasets.Open(options.DataPath, model.ImageSize, model.ClassConditional, model.ClassConditional ? model.NumClasses : null);
        var device = options.Device ?? CPU;
        var diffusion = model.CreateDiffusion(options.Respacing ?? "");
        using var network = model.LoadNetwork(options.ModelPath, device);

        var total = Math.Min(options.NumSamples ?? data.Count, data.Count);
        var steps = diffusion.NumTimesteps;
        var bpd = new List<double>();
        var prior = new List<double>();
        var vbSum = new double[steps];
        var mseSum = new double[steps];
        for (var start = 0; start < total; start += options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var indices = Enumerable.Range(start, Math.Min(options.BatchSize, total - start)).ToArray();
            using var scope = NewDisposeScope();
            using var batch = data.DecodeBatch(indices, device);
            using var noise = new SeededNoiseSource(unchecked((options.Seed * 1_000_003L) + (start / options.BatchSize)), device);
            var terms = diffusion.CalcBpdLoop(network, batch.Images, noise, options.ClipDenoised, batch.Labels);
            bpd.AddRange(Doubles(terms.TotalBpd));
            prior.AddRange(Doubles(terms.PriorBpd));
            // Columns are in visiting order (column k is t = T − 1 − k); summed per t.
            var vb = Doubles(terms.Vb.sum([0L]));
            var mse = Doubles(terms.XStartMse.sum([0L]));
            for (var k = 0; k < steps; k++)
            {
                vbSum[steps - 1 - k] += vb[k];
                mseSum[steps - 1 - k] += mse[k];
            }
            progress?.Report((bpd.Count, total, bpd.Average()));
        }
        var mean = bpd.Average();
        var standardError = bpd.Count > 1 ? Math.Sqrt(bpd.Sum(v => (v - mean) * (v - mean)) / (bpd.Count - 1) / bpd.Count) : double.NaN;
        return new NllResult(bpd.Count, mean, standardError, [.. prior], [.. vbSum.Select(v => v / bpd.Count)], [.. mseSum.Select(v => v / bpd.Count)]);
    }

    static double[] Doubles(Tensor values) => [.. values.detach().to(ScalarType.Float64).cpu().data<double>()];
}
