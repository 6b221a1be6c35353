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
/// <c>calc_bpd_loop</c>). Batch b's noise is seeded by (seed, b) alone. A super-resolution model's bound is
/// conditional: each image given its area-downsampled copy.
/// </summary>
public static class NllEvaluation
{
    /// <param name="progress">Told the images done, the total and the running mean after each batch.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <param name="communicator">The processes sharing the work (null: <see cref="Communicators.FromEnvironment"/>):
    /// each evaluates a contiguous part of the batches, and every rank returns the result of all of them, combined in
    /// batch order with the same arithmetic as one process, so the bits/dim are the same to the bit.</param>
    public static NllResult Run(ModelDefinition model, NllOptions options, IProgress<(int Done, int Total, double Mean)>? progress = null, CancellationToken cancellationToken = default,
        ICommunicator? communicator = null)
    {
        communicator ??= Communicators.FromEnvironment();
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
        // Per batch, in order: its size, per-image bpd and prior, then the batch's vb and mse sums per visited step.
        var batches = new List<double>();
        var (firstBatch, batchCount) = ImageSampling.RankPart((total + options.BatchSize - 1) / options.BatchSize, communicator);
        var myTotal = Math.Min(total, (firstBatch + batchCount) * options.BatchSize) - (firstBatch * options.BatchSize);
        for (var start = firstBatch * options.BatchSize; start < (firstBatch + batchCount) * options.BatchSize && start < total; start += options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var indices = Enumerable.Range(start, Math.Min(options.BatchSize, total - start)).ToArray();
            using var scope = NewDisposeScope();
            using var batch = data.DecodeBatch(indices, device);
            using var noise = new SeededNoiseSource(unchecked((options.Seed * 1_000_003L) + (start / options.BatchSize)), device);
            // A super-resolution model is scored given each image's own low-resolution copy, as training conditions it.
            var conditioned = network is SuperResNetworkModule superRes ? superRes.ConditionedOnDownsampled(batch.Images) : network;
            var terms = diffusion.CalcBpdLoop(conditioned, batch.Images, noise, options.ClipDenoised, batch.Labels);
            var batchBpd = Doubles(terms.TotalBpd);
            bpd.AddRange(batchBpd);
            batches.Add(indices.Length);
            batches.AddRange(batchBpd);
            batches.AddRange(Doubles(terms.PriorBpd));
            batches.AddRange(Doubles(terms.Vb.sum([0L])));
            batches.AddRange(Doubles(terms.XStartMse.sum([0L])));
            progress?.Report((bpd.Count, myTotal, bpd.Average()));
        }
        var all = communicator.Size == 1 ? batches.ToArray() : [.. communicator.AllGatherVariable<double>(batches.ToArray()).SelectMany(part => part)];
        bpd.Clear();
        var vbSum = new double[steps];
        var mseSum = new double[steps];
        for (var at = 0; at < all.Length;)
        {
            var n = (int)all[at++];
            bpd.AddRange(all.AsSpan(at, n).ToArray());
            prior.AddRange(all.AsSpan(at + n, n).ToArray());
            at += 2 * n;
            // Columns are in visiting order (column k is t = T − 1 − k); summed per t.
            for (var k = 0; k < steps; k++)
            {
                vbSum[steps - 1 - k] += all[at + k];
                mseSum[steps - 1 - k] += all[at + steps + k];
            }
            at += 2 * steps;
        }
        var mean = bpd.Average();
        var standardError = bpd.Count > 1 ? Math.Sqrt(bpd.Sum(v => (v - mean) * (v - mean)) / (bpd.Count - 1) / bpd.Count) : double.NaN;
        return new NllResult(bpd.Count, mean, standardError, [.. prior], [.. vbSum.Select(v => v / bpd.Count)], [.. mseSum.Select(v => v / bpd.Count)]);
    }

    static double[] Doubles(Tensor values) => [.. values.detach().to(ScalarType.Float64).cpu().data<double>()];
}
