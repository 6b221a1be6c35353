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

/// <summary>What <see cref="SampleEvaluation.Run(SampleEvaluationOptions, IProgress{ValueTuple{string, int, int}}?, CancellationToken)"/> measured; precision and recall need reference images, not only
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
    public static SampleEvaluationResult Run(SampleEvaluationOptions options, IProgress<(string Step, int Done, int Total)>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var network = FidInceptionV3.Load(options.InceptionWeightsPath, options.Device);
        return Run(network, options.SamplesPath, options.ReferencePath, options.BatchSize, options.SaveReferenceStatistics, progress, cancellationToken);
    }

    /// <param name="samplesPath">An <c>.npz</c> as <c>sample</c> writes it (<c>arr_0</c> NHWC uint8), or a folder of
    /// square images of one size (as other tools save samples), read at that size.</param>
    /// <param name="referencePath">Reference statistics (an <c>.npz</c> with <c>mu</c> and <c>sigma</c>), reference
    /// images (an image folder, CIFAR-10 batches, or an <c>.npz</c> with <c>arr_0</c>), or an <c>.npz</c> with both.</param>
    /// <param name="saveReferenceStatistics">Where to cache the reference images' statistics for next time, if given.</param>
    /// <param name="progress">Each step's name (the Inception features of each set, then precision and recall) with
    /// its units done and total.</param>
    public static SampleEvaluationResult Run(FidInceptionV3 network, string samplesPath, string referencePath, int batchSize = InceptionFeatures.DefaultBatchSize,
        string? saveReferenceStatistics = null, IProgress<(string Step, int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var samples = LoadSamples(samplesPath);
        var (samplePool, sampleLogits) = Features(network, samples.Pixels, samples.Count, samples.Height, samples.Width, batchSize, "samples", progress, cancellationToken);

        var (hasStatistics, hasImages) = ReferenceContents(referencePath);
        float[]? referencePool = null;
        int? referenceCount = null;
        if (hasImages)
        {
            var dataset = ImageDatasets.Open(referencePath, samples.Height);
            var pixels = ToUInt8Nhwc(dataset);
            (referencePool, _) = Features(network, pixels, dataset.Count, dataset.ImageSize, dataset.ImageSize, batchSize, "reference", progress, cancellationToken);
            referenceCount = dataset.Count;
        }
        var reference = hasStatistics
            ? FeatureStatisticsFile.Load(referencePath)
            : FeatureStatistics.FromFeatures(referencePool!, FidInceptionV3.FeatureDimension);
        if (!hasStatistics && saveReferenceStatistics is not null) FeatureStatisticsFile.Save(reference, saveReferenceStatistics);

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
        return new SampleEvaluationResult(samples.Count, referenceCount, fid, inceptionScore, precisionRecall);
    }

    /// <summary>An <c>.npz</c> of samples, or a folder of images at the size of its first image in file order.</summary>
    /// <exception cref="DataException">The folder holds no images, or its first image cannot be read.</exception>
    static SampleSet LoadSamples(string path)
    {
        if (!Directory.Exists(path)) return SampleSet.Load(path);
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
        var dataset = new ImageFolderDataset(path, Math.Min(info.Width, info.Height));
        return new SampleSet(ToUInt8Nhwc(dataset), dataset.Count, dataset.ImageSize, dataset.ImageSize, 3, null);
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

    /// <summary>The dataset's items back as bytes: they decode to exactly byte / 127.5 − 1, so rounding recovers them.</summary>
    static byte[] ToUInt8Nhwc(IImageDataset dataset)
    {
        var size = dataset.ImageSize;
        var item = new float[dataset.ItemLength];
        var pixels = new byte[(long)dataset.Count * dataset.ItemLength];
        for (var n = 0; n < dataset.Count; n++)
        {
            dataset.Decode(n, item);
            for (var c = 0; c < 3; c++)
                for (var i = 0; i < size * size; i++)
                    pixels[((long)n * size * size + i) * 3 + c] = (byte)Math.Round((item[c * size * size + i] + 1) * 127.5);
        }
        return pixels;
    }

    /// <summary>
    /// Pool3 features stay float32 as the network gives them (50k × 2048 is 400 MB, not 800); statistics and
    /// precision/recall widen what they need to float64 themselves.
    /// </summary>
    static (float[] Pool3, double[,] Logits) Features(FidInceptionV3 network, byte[] pixels, int count, int height, int width, int batchSize,
        string set, IProgress<(string Step, int Done, int Total)>? progress, CancellationToken cancellationToken)
    {
        var pool = new float[(long)count * FidInceptionV3.FeatureDimension];
        var logits = new double[count, FidInceptionV3.ClassCount];
        foreach (var batch in InceptionFeatures.FromUInt8Nhwc(network, pixels, [count, height, width, 3], batchSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            batch.Pool3.AsSpan(0, batch.Count * FidInceptionV3.FeatureDimension).CopyTo(pool.AsSpan(batch.Start * FidInceptionV3.FeatureDimension));
            for (var i = 0; i < batch.Count; i++)
            {
                for (var k = 0; k < FidInceptionV3.ClassCount; k++) logits[batch.Start + i, k] = batch.Logits[i * FidInceptionV3.ClassCount + k];
            }
            progress?.Report(($"Inception features: {set}", batch.Start + batch.Count, count));
        }
        return (pool, logits);
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
