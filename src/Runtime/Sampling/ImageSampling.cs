using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>What <c>sample</c> does (the reference's <c>image_sample.py</c>), as options.</summary>
/// <param name="ModelPath">Weights to load: ours or the reference's <c>.pt</c>, EMA or not, or <c>.safetensors</c>.</param>
/// <param name="Respacing">Null: the model's declared respacing.</param>
/// <param name="ClassLabel">Class-conditional models: every sample of this class; null draws classes at random.</param>
/// <param name="Shard">Which of <paramref name="NumShards"/> disjoint parts of the batches this run makes.</param>
/// <param name="Sampler">A solver of <see cref="DiffusionSamplers"/> over <paramref name="Steps"/> steps instead of the
/// reference's loop over <paramref name="Respacing"/> (which must then be left out, as <paramref name="UseDdim"/>).</param>
/// <param name="Steps">With <paramref name="Sampler"/>: its steps (null: <see cref="DiffusionSamplers.DefaultSteps"/>).</param>
/// <param name="BaseSamples">Super-resolution models only, and required there: the <c>.npz</c> of low-resolution samples
/// to upsample (<see cref="ImprovedDdpm.BaseSamples"/>), one sample per base sample in order; <paramref name="NumSamples"/>
/// then takes the first that many (all of them when the file holds fewer).</param>
public sealed record SampleOptions(
    string ModelPath,
    int NumSamples = 10000,
    int BatchSize = 16,
    string? Respacing = null,
    bool UseDdim = false,
    double Eta = 0.0,
    bool ClipDenoised = true,
    int? ClassLabel = null,
    long Seed = 0,
    int Shard = 0,
    int NumShards = 1,
    Device? Device = null,
    SamplerKind? Sampler = null,
    int? Steps = null,
    string? BaseSamples = null);

/// <summary>Samples as uint8 NHWC, with their labels for class-conditional models.</summary>
public sealed record SampleSet(byte[] Pixels, int Count, int Height, int Width, int Channels, long[]? Labels)
{
    /// <summary>Writes <c>{output}.npz</c> (<c>arr_0</c> images, <c>arr_1</c> labels, as the reference) and <c>{output}.png</c>.</summary>
    public (string Npz, string Png) Save(string output)
    {
        if (output.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) output = output[..^4];
        long[] shape = [Count, Height, Width, Channels];
        AtomicFile.WriteFile(output + ".npz", temporary => Npz.SaveSamples(temporary, Pixels, shape, Labels));
        AtomicFile.WriteFile(output + ".png", temporary => SampleImages.SaveGridPng(temporary, Pixels, shape));
        return (output + ".npz", output + ".png");
    }

    /// <summary>Reads a set written by <see cref="Save"/> (or by the reference's sampler).</summary>
    /// <exception cref="DataException">No such file, not an .npz, or no 4-dimensional uint8 <c>arr_0</c>; the message names the file.</exception>
    public static SampleSet Load(string npzPath)
    {
        using var npz = new NpzReader(npzPath);
        var pixels = npz.ReadUInt8("arr_0", out var header);
        if (header.Shape.Length != 4)
            throw new DataException(npzPath, $"{npzPath}: arr_0 must be NHWC uint8 samples; its shape is {header.ShapeText}");
        var labels = npz.Contains("arr_1") ? npz.ReadInt64("arr_1", out _) : null;
        return new SampleSet(pixels, (int)header.Shape[0], (int)header.Shape[1], (int)header.Shape[2], (int)header.Shape[3], labels);
    }

    /// <summary>Shards in order, concatenated: the merge of <c>sample --shard i --num-shards n</c> runs.</summary>
    public static SampleSet Concatenate(IReadOnlyList<SampleSet> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("nothing to merge", nameof(parts));
        var first = parts[0];
        foreach (var part in parts.Where(p => (p.Height, p.Width, p.Channels) != (first.Height, first.Width, first.Channels) || (p.Labels is null) != (first.Labels is null)))
            throw new ArgumentException($"cannot merge {part.Height}x{part.Width}x{part.Channels} samples with {first.Height}x{first.Width}x{first.Channels} ones, or labelled with unlabelled");
        return new SampleSet([.. parts.SelectMany(p => p.Pixels)], parts.Sum(p => p.Count), first.Height, first.Width, first.Channels,
            first.Labels is null ? null : [.. parts.SelectMany(p => p.Labels!)]);
    }
}

/// <summary>
/// Draws samples from a trained model as the reference's <c>image_sample.py</c> does: batches from pure noise through
/// the (respaced) reverse process, ancestral or DDIM, mapped to uint8 by <c>((x + 1) · 127.5).clamp(0, 255)</c>.
/// Batch b's noise (and random labels) come from a generator seeded by the seed and b alone, so shards of the batches
/// made by different processes concatenate to exactly what one process makes. A super-resolution model's batch b is
/// conditioned on base samples b·B … (b + 1)·B − 1 (the reference's <c>super_res_sample.py</c>).
/// </summary>
public static class ImageSampling
{
    /// <summary>The batches shard <paramref name="shard"/> of <paramref name="shards"/> makes: a contiguous range.</summary>
    public static (int First, int Count) ShardBatches(int numSamples, int batchSize, int shard, int shards)
    {
        var batches = (numSamples + batchSize - 1) / batchSize;
        var first = (int)((long)batches * shard / shards);
        var end = (int)((long)batches * (shard + 1) / shards);
        return (first, end - first);
    }

    /// <param name="progress">Told the number of reverse steps done so far over all of this shard's batches (this
    /// rank's part of them under several processes).</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <param name="communicator">The processes sharing the work (null: <see cref="Communicators.FromEnvironment"/>):
    /// each makes a contiguous part of the shard's batches and every rank returns them all, gathered in batch order, so
    /// the set is the one a single process makes, pixel for pixel. Every rank must call with the same options.</param>
    public static SampleSet Run(ModelDefinition model, SampleOptions options, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default,
        ICommunicator? communicator = null)
    {
        communicator ??= Communicators.FromEnvironment();
        Validate(model, options);
        var baseSamples = model.SuperResolution ? ImprovedDdpm.BaseSamples.Load(model, options.BaseSamples!) : null;
        var numSamples = baseSamples is null ? options.NumSamples : Math.Min(options.NumSamples, baseSamples.Count);
        var device = options.Device ?? CPU;
        // The solvers run on the full process (they choose their own times); the reference's loops on the respaced one.
        var diffusion = model.CreateDiffusion(options.Sampler is null ? options.Respacing : "");
        var solverSteps = options.Steps ?? DiffusionSamplers.DefaultSteps;
        var stepsPerBatch = options.Sampler is { } solver ? DiffusionSamplers.NetworkEvaluations(solver, solverSteps) : diffusion.NumTimesteps;
        using var network = model.LoadNetwork(options.ModelPath, device);

        var (shardFirst, shardCount) = ShardBatches(numSamples, options.BatchSize, options.Shard, options.NumShards);
        var (rankFirst, batchCount) = RankPart(shardCount, communicator);
        var firstBatch = shardFirst + rankFirst;
        var size = model.ImageSize;
        var perImage = size * size * model.Channels;
        var pixels = new List<byte>();
        var labels = model.ClassConditional ? new List<long>() : null;
        var total = batchCount * stepsPerBatch;
        for (var b = 0; b < batchCount; b++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = firstBatch + b;
            var first = batch * options.BatchSize;
            var count = Math.Min(options.BatchSize, numSamples - first);
            using var scope = NewDisposeScope();
            using var noise = new SeededNoiseSource(unchecked((options.Seed * 1_000_003L) + batch), device);
            Tensor? y = null;
            IDiffusionNetwork conditioned = network;
            if (baseSamples is not null)
            {
                conditioned = ((SuperResNetworkModule)network).ConditionedOn(baseSamples.LowRes(first, count, device));
                y = baseSamples.Labels(first, count, device);
                if (y is not null) labels!.AddRange(y.cpu().data<long>().ToArray());
            }
            else if (model.ClassConditional)
            {
                using var label = (options.ClassLabel ?? 0L).ToScalar();
                y = options.ClassLabel is not null
                    ? full(count, label, ScalarType.Int64, device)
                    : randint(model.NumClasses, [count], ScalarType.Int64, device, generator: noise.Generator);
                labels!.AddRange(y.cpu().data<long>().ToArray());
            }
            var done = b * stepsPerBatch;
            var steps = new Progress<int>(step => progress?.Report((done + step, total)));
            var shape = new long[] { count, model.Channels, size, size };
            var x = options.Sampler is { } kind ? DiffusionSamplers.Sample(diffusion, conditioned, shape, noise, kind, solverSteps, options.ClipDenoised, y, steps)
                : options.UseDdim ? diffusion.DdimSampleLoop(conditioned, shape, noise, options.Eta, options.ClipDenoised, y, steps)
                : diffusion.PSampleLoop(conditioned, shape, noise, options.ClipDenoised, y, steps);
            pixels.AddRange(SampleImages.ToUInt8Nhwc(x));
            progress?.Report((done + stepsPerBatch, total));
        }
        if (communicator.Size > 1)
        {
            // Rank r's batches follow rank r − 1's: concatenated in rank order they are the shard's, in order.
            pixels = [.. communicator.AllGatherVariable<byte>(pixels.ToArray()).SelectMany(part => part)];
            if (labels is not null) labels = [.. communicator.AllGatherVariable<long>(labels.ToArray()).SelectMany(part => part)];
        }
        return new SampleSet([.. pixels], pixels.Count / perImage, size, size, model.Channels, labels?.ToArray());
    }

    /// <summary>This rank's contiguous part of <paramref name="batches"/> batches: (first, count), first relative to them.</summary>
    internal static (int First, int Count) RankPart(int batches, ICommunicator communicator)
    {
        var first = (int)((long)batches * communicator.Rank / communicator.Size);
        var end = (int)((long)batches * (communicator.Rank + 1) / communicator.Size);
        return (first, end - first);
    }

    /// <summary>How many samples <paramref name="options"/> make in all shards: the requested number, and for a
    /// super-resolution model at most one per base sample (read from the base file's header).</summary>
    public static int SampleCount(ModelDefinition model, SampleOptions options)
    {
        Validate(model, options);
        return model.SuperResolution ? Math.Min(options.NumSamples, ImprovedDdpm.BaseSamples.CountIn(model, options.BaseSamples!)) : options.NumSamples;
    }

    internal static void Validate(ModelDefinition model, SampleOptions options)
    {
        if (model.SuperResolution && options.BaseSamples is null)
            throw new ArgumentException($"--base-samples is required: {model.Name} is a super-resolution model and upsamples {model.SmallSize}x{model.SmallSize} samples (the .npz of sampling a low-resolution model)");
        if (!model.SuperResolution && options.BaseSamples is not null)
            throw new ArgumentException($"--base-samples was given but {model.Name} is not a super-resolution model; it samples from noise alone");
        if (model.SuperResolution && options.ClassLabel is not null)
            throw new ArgumentException("--class cannot be given with --base-samples: each sample takes its base sample's label (arr_1)");
        if (options.NumSamples < 1) throw new ArgumentException($"--num-samples must be at least 1; got {options.NumSamples}");
        if (options.BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1; got {options.BatchSize}");
        if (options.NumShards < 1 || options.Shard < 0 || options.Shard >= options.NumShards)
            throw new ArgumentException($"--shard must be in [0, --num-shards); got shard {options.Shard} of {options.NumShards}");
        if (options.ClassLabel is { } label)
        {
            if (!model.ClassConditional) throw new ArgumentException($"--class was given but {model.Name} is not class-conditional");
            if (label < 0 || label >= model.NumClasses)
                throw new ArgumentException($"--class {label} is out of range: {model.Name} has classes 0 to {model.NumClasses - 1}");
        }
        if (!(options.Eta >= 0)) throw new ArgumentException($"--eta must be 0 or more; got {options.Eta}");
        if (options.Sampler is { } sampler)
        {
            if (options.Respacing is not null || options.UseDdim || options.Eta != 0)
                throw new ArgumentException($"--sampler {DiffusionSamplers.Name(sampler)} chooses its own steps: leave out --timestep-respacing, --use-ddim and --eta (or leave out --sampler)");
            var minimum = DiffusionSamplers.MinimumSteps(sampler);
            if (options.Steps is { } steps && steps < minimum)
                throw new ArgumentException($"--steps {steps}: {DiffusionSamplers.Name(sampler)} needs at least {minimum}");
        }
        else if (options.Steps is not null)
        {
            throw new ArgumentException("--steps goes with --sampler; without it, --timestep-respacing says the steps");
        }
    }
}
