using System.Globalization;

namespace ImprovedDdpm;

/// <summary>What <c>evaluate</c> does, as options.</summary>
/// <param name="SamplesPath">An <c>.npz</c> as <c>sample</c> writes it (<c>arr_0</c> NHWC uint8), or a folder of square
/// images of one size.</param>
/// <param name="ReferencePath">Reference statistics (an <c>.npz</c> with <c>mu</c> and <c>sigma</c>), reference images (an
/// image folder, CIFAR-10 batches, an <c>.npz</c> with <c>arr_0</c>), or an <c>.npz</c> with both.</param>
/// <param name="InceptionWeightsPath">pytorch-fid's FID Inception weights (see <see cref="FidInceptionV3.Load"/>).</param>
/// <param name="SaveReferenceStatistics">Where to cache the reference images' statistics for next time, if given.</param>
/// <param name="Device">Where the Inception network runs; null: the CPU.</param>
public sealed record SampleEvaluationOptions(
    string SamplesPath,
    string ReferencePath,
    string InceptionWeightsPath,
    int BatchSize = InceptionFeatures.DefaultBatchSize,
    string? SaveReferenceStatistics = null,
    TorchSharp.torch.Device? Device = null);

/// <summary>What <see cref="SampleEvaluation.Run(SampleEvaluationOptions, IProgress{ValueTuple{string, int, int}}?, CancellationToken, ICommunicator?)"/> measured; precision and recall need reference images, not only
/// statistics, and more than k = 3 images in each set.</summary>
public sealed record SampleEvaluationResult(int Samples, int? ReferenceImages, double Fid, InceptionScoreResult InceptionScore, PrecisionRecallResult? PrecisionRecall);

/// <summary>
/// FID, Inception Score and precision/recall of a sample file against a reference, all from one FID Inception-v3
/// pass over each set: pool3 features for FID (Fréchet distance of their Gaussians) and precision/recall (k = 3
/// manifolds), the samples' logits for the Inception Score.
/// </summary>
public static class SampleEvaluation
{
    /// <summary>Loads the Inception network and evaluates, as <c>evaluate</c> does.</summary>
    /// <param name="progress">Each step's name (the Inception features of each set, then precision and recall) with
    /// its units done and total.</param>
    /// <param name="cancellationToken">Checked between Inception batches.</param>
    /// <param name="communicator">The processes sharing the work (null: <see cref="Communicators.FromEnvironment"/>);
    /// see <see cref="Run(FidInceptionV3, string, string, int, string?, IProgress{ValueTuple{string, int, int}}?, CancellationToken, ICommunicator?)"/>.</param>
    public static SampleEvaluationResult Run(SampleEvaluationOptions options, IProgress<(string Step, int Done, int Total)>? progress = null,
        CancellationToken cancellationToken = default, ICommunicator? communicator = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var network = FidInceptionV3.Load(options.InceptionWeightsPath, options.Device);
        return Run(network, options.SamplesPath, options.ReferencePath, options.BatchSize, options.SaveReferenceStatistics, progress, cancellationToken, communicator);
    }

    /// <param name="samplesPath">An <c>.npz</c> as <c>sample</c> writes it (<c>arr_0</c> NHWC uint8), or a folder of
    /// square images of one size (as other tools save samples), read at that size.</param>
    /// <param name="referencePath">Reference statistics (an <c>.npz</c> with <c>mu</c> and <c>sigma</c>), reference
    /// images (an image folder, CIFAR-10 batches, or an <c>.npz</c> with <c>arr_0</c>), or an <c>.npz</c> with both.</param>
    /// <param name="saveReferenceStatistics">Where to cache the reference images' statistics for next time, if given
    /// (written by rank 0 alone).</param>
    /// <param name="progress">Each step's name (the Inception features of each set, then precision and recall) with
    /// its units done and total (over all ranks).</param>
    /// <param name="cancellationToken">Checked between Inception batches. Under several processes, cancel every rank
    /// or none: a rank that stops alone leaves the others waiting.</param>
    /// <param name="communicator">The processes sharing the work (null: <see cref="Communicators.FromEnvironment"/>):
    /// rank r computes the Inception features of batches r, r + K, r + 2K, … of each set (whole batches, so each batch's
    /// numbers are those of one process), the features are gathered in batch order on rank 0, which computes the
    /// measures and writes the reference statistics; every rank returns rank 0's result. The result is that of one
    /// process to the bit when each rank computes a batch as one process does (the same device and thread count).</param>
    public static SampleEvaluationResult Run(FidInceptionV3 network, string samplesPath, string referencePath, int batchSize = InceptionFeatures.DefaultBatchSize,
        string? saveReferenceStatistics = null, IProgress<(string Step, int Done, int Total)>? progress = null, CancellationToken cancellationToken = default,
        ICommunicator? communicator = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        communicator ??= Communicators.FromEnvironment();
        var samples = LoadSamples(samplesPath);
        var sampleFeatures = Features(network, samples, batchSize, "samples", progress, cancellationToken, communicator);

        var (hasStatistics, hasImages) = ReferenceContents(referencePath);
        (float[] Pool3, double[,] Logits)? referenceFeatures = null;
        int? referenceCount = null;
        if (hasImages)
        {
            var dataset = ImageDatasets.Open(referencePath, samples.Height);
            referenceFeatures = Features(network, ImageSet.Of(dataset), batchSize, "reference", progress, cancellationToken, communicator);
            referenceCount = dataset.Count;
        }
        if (!communicator.IsRoot) return ReceiveResult(communicator);

        var referencePool = referenceFeatures?.Pool3;
        var reference = hasStatistics
            ? FeatureStatisticsFile.Load(referencePath)
            : FeatureStatistics.FromFeatures(referencePool!, FidInceptionV3.FeatureDimension);
        if (!hasStatistics && saveReferenceStatistics is not null) FeatureStatisticsFile.Save(reference, saveReferenceStatistics);

        var (samplePool, sampleLogits) = sampleFeatures!.Value;
        var fid = FrechetDistance.Compute(FeatureStatistics.FromFeatures(samplePool, FidInceptionV3.FeatureDimension), reference);
        var inceptionScore = InceptionScore.FromLogits(sampleLogits, Math.Min(InceptionScore.DefaultSplits, samples.Count));
        PrecisionRecallResult? precisionRecall = null;
        if (referencePool is not null && Math.Min(samples.Count, referenceCount!.Value) > PrecisionRecall.DefaultNeighbourhood)
        {
            // Minutes at 50k × 50k: shown as a step of its own so the display does not look finished.
            const string step = "precision and recall (k = 3)";
            progress?.Report((step, 0, 1));
            precisionRecall = PrecisionRecall.Compute(referencePool, samplePool, FidInceptionV3.FeatureDimension);
            progress?.Report((step, 1, 1));
        }
        var result = new SampleEvaluationResult(samples.Count, referenceCount, fid, inceptionScore, precisionRecall);
        if (communicator.Size > 1) SendResult(communicator, result);
        return result;
    }

    /// <summary>Rank 0's result, sent to the other ranks as numbers (the counts are exact in a double).</summary>
    static void SendResult(ICommunicator communicator, SampleEvaluationResult result)
    {
        Span<double> values =
        [
            result.Samples, result.ReferenceImages ?? -1, result.Fid, result.InceptionScore.Mean, result.InceptionScore.StandardDeviation,
            result.PrecisionRecall is null ? 0 : 1, result.PrecisionRecall?.Precision ?? 0, result.PrecisionRecall?.Recall ?? 0,
        ];
        communicator.Broadcast(values);
    }

    static SampleEvaluationResult ReceiveResult(ICommunicator communicator)
    {
        Span<double> values = stackalloc double[8];
        communicator.Broadcast(values);
        return new SampleEvaluationResult((int)values[0], values[1] < 0 ? null : (int)values[1], values[2], new InceptionScoreResult(values[3], values[4]),
            values[5] > 0 ? new PrecisionRecallResult(values[6], values[7]) : null);
    }

    /// <summary>An <c>.npz</c> of samples, or a folder of images at the size of its first image in file order.</summary>
    /// <exception cref="DataException">The folder holds no images, or its first image cannot be read.</exception>
    static ImageSet LoadSamples(string path)
    {
        if (!Directory.Exists(path))
        {
            var samples = SampleSet.Load(path);
            var imageBytes = samples.Height * samples.Width * samples.Channels;
            return new ImageSet(samples.Count, samples.Height, samples.Width, samples.Channels,
                (start, count) => samples.Pixels.AsMemory(start * imageBytes, count * imageBytes));
        }
        var first = ImageFolderDataset.ListImageFiles(path).FirstOrDefault()
            ?? throw new DataException(path, $"{path} holds no images (jpg, jpeg, png or gif)");
        SixLabors.ImageSharp.IImageInfo? info;
        try
        {
            using var stream = File.OpenRead(first);
            info = SixLabors.ImageSharp.Image.Identify(ReferenceImageTransform.Configuration, stream);
        }
        catch (Exception e) when (e is IOException or SixLabors.ImageSharp.ImageFormatException)
        {
            throw new DataException(first, $"{first} cannot be read as an image ({e.Message})", e);
        }
        if (info is null) throw new DataException(first, $"{first} is not an image ImageSharp can decode");
        return ImageSet.Of(new ImageFolderDataset(path, Math.Min(info.Width, info.Height)));
    }

    /// <summary>
    /// Images as uint8 NHWC, read a range at a time: each rank reads (and decodes) only the batches it computes.
    /// </summary>
    sealed record ImageSet(int Count, int Height, int Width, int Channels, Func<int, int, ReadOnlyMemory<byte>> Read)
    {
        public static ImageSet Of(IImageDataset dataset) =>
            new(dataset.Count, dataset.ImageSize, dataset.ImageSize, 3, (start, count) => ToUInt8Nhwc(dataset, start, count));
    }

    /// <summary>
    /// What a reference holds: statistics (an <c>.npz</c> with <c>mu</c> and <c>sigma</c>), images, or both, as
    /// guided-diffusion's reference batches do (<c>arr_0</c> beside <c>mu</c>/<c>sigma</c>). With both, FID uses the
    /// stored statistics, as that evaluator does, and precision/recall the images.
    /// </summary>
    static (bool HasStatistics, bool HasImages) ReferenceContents(string path)
    {
        if (!File.Exists(path) || !path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) return (false, true);
        using var npz = new NpzReader(path);
        var statistics = npz.Contains("mu") && npz.Contains("sigma");
        return (statistics, !statistics || npz.Contains("arr_0"));
    }

    /// <summary>Items [start, start + count) of the dataset back as bytes: they decode to exactly byte / 127.5 − 1, so
    /// rounding recovers them.</summary>
    static byte[] ToUInt8Nhwc(IImageDataset dataset, int start, int count)
    {
        var size = dataset.ImageSize;
        var item = new float[dataset.ItemLength];
        var pixels = new byte[(long)count * dataset.ItemLength];
        for (var n = 0; n < count; n++)
        {
            dataset.Decode(start + n, item);
            for (var c = 0; c < 3; c++)
                for (var i = 0; i < size * size; i++)
                    pixels[((long)n * size * size + i) * 3 + c] = (byte)Math.Round((item[c * size * size + i] + 1) * 127.5);
        }
        return pixels;
    }

    /// <summary>
    /// Pool3 features stay float32 as the network gives them (50k × 2048 is 400 MB, not 800); statistics and
    /// precision/recall widen what they need to float64 themselves. Under K processes, round j computes batch
    /// j·K + r on rank r and gathers the round's batches (in rank order, hence in batch order) on every rank; rank 0
    /// keeps them, and the others return null.
    /// </summary>
    static (float[] Pool3, double[,] Logits)? Features(FidInceptionV3 network, ImageSet images, int batchSize, string set,
        IProgress<(string Step, int Done, int Total)>? progress, CancellationToken cancellationToken, ICommunicator communicator)
    {
        const int dimension = FidInceptionV3.FeatureDimension, classes = FidInceptionV3.ClassCount;
        var count = images.Count;
        var keep = communicator.IsRoot;
        var pool = keep ? new float[(long)count * dimension] : null;
        var logits = keep ? new double[count, classes] : null;
        var batches = (count + batchSize - 1) / batchSize;
        var done = 0;
        for (var round = 0; (long)round * communicator.Size < batches; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = (round * communicator.Size) + communicator.Rank;
            float[] mine = [];
            if (batch < batches)
            {
                var start = batch * batchSize;
                var n = Math.Min(batchSize, count - start);
                var features = InceptionFeatures.FromUInt8Nhwc(network, images.Read(start, n), [n, images.Height, images.Width, images.Channels], batchSize).Single();
                // This batch's pool3 rows, then its logits rows: one message per rank and round.
                mine = [.. features.Pool3.AsSpan(0, n * dimension), .. features.Logits.AsSpan(0, n * classes)];
            }
            var parts = communicator.Size == 1 ? [mine] : communicator.AllGatherVariable<float>(mine);
            foreach (var part in parts)
            {
                var n = part.Length / (dimension + classes);
                if (keep)
                {
                    part.AsSpan(0, n * dimension).CopyTo(pool.AsSpan(done * dimension));
                    for (var i = 0; i < n; i++)
                    {
                        for (var k = 0; k < classes; k++) logits![done + i, k] = part[(n * dimension) + (i * classes) + k];
                    }
                }
                done += n;
            }
            progress?.Report(($"Inception features: {set}", done, count));
        }
        return keep ? (pool!, logits!) : null;
    }

    /// <summary>One line per measure, invariant culture.</summary>
    public static IEnumerable<string> Describe(SampleEvaluationResult result)
    {
        var against = result.ReferenceImages is { } n ? $"{n} reference images" : "reference statistics";
        yield return string.Create(CultureInfo.InvariantCulture, $"FID {result.Fid:G6} ({result.Samples} samples against {against})");
        yield return string.Create(CultureInfo.InvariantCulture, $"Inception Score {result.InceptionScore.Mean:F4} ± {result.InceptionScore.StandardDeviation:F4}");
        if (result.PrecisionRecall is { } pr)
            yield return string.Create(CultureInfo.InvariantCulture, $"precision {pr.Precision:F4}, recall {pr.Recall:F4} (k = 3)");
        else if (result.ReferenceImages is not null)
            yield return $"precision and recall need more than {PrecisionRecall.DefaultNeighbourhood} images in each set (a k = {PrecisionRecall.DefaultNeighbourhood} neighbourhood besides the point itself)";
    }
}
