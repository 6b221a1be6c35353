using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Opens training data from a path, choosing the reader by what is there (the reference's <c>--data_dir</c>, widened):
/// an <c>.npz</c> file → <see cref="NpzDataset"/>; a CIFAR-10 <c>.bin</c> file, or a folder holding
/// <c>data_batch_N.bin</c> → <see cref="Cifar10Dataset"/>; any other folder → <see cref="ImageFolderDataset"/>.
/// </summary>
public static class ImageDatasets
{
    /// <param name="path">The data file or folder.</param>
    /// <param name="imageSize">The model's image size: every item is decoded to 3 × imageSize × imageSize.</param>
    /// <param name="classConditional">Give each item its class label (the reference's <c>class_cond</c>); a dataset
    /// without labels is then an error, as in the reference.</param>
    /// <param name="numClasses">The model's number of classes, when class-conditional: data with more classes is
    /// refused, since its labels would fall outside the model's class embedding.</param>
    /// <exception cref="DataException">Nothing at <paramref name="path"/>, a file of another kind, or any of the
    /// readers' own refusals.</exception>
    public static IImageDataset Open(string path, int imageSize, bool classConditional = false, int? numClasses = null)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new DataException(path ?? "", "no data path was given");
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 1);
        IImageDataset dataset;
        if (File.Exists(path))
        {
            var extension = Path.GetExtension(path).ToLowerInvariant();
            dataset = extension switch
            {
                ".npz" => new NpzDataset(path, imageSize, classConditional),
                ".bin" => new Cifar10Dataset(path, imageSize, classConditional),
                _ => throw new DataException(path,
                    $"{path} is a file but neither an .npz array file nor a CIFAR-10 .bin batch; give a folder of images, a CIFAR-10 folder, an .npz or a .bin"),
            };
        }
        else if (Directory.Exists(path))
        {
            dataset = Cifar10Dataset.IsCifarFolder(path)
                ? new Cifar10Dataset(path, imageSize, classConditional)
                : new ImageFolderDataset(path, imageSize, classConditional);
        }
        else
        {
            throw new DataException(path, $"data path {path} does not exist");
        }

        if (classConditional && numClasses is { } modelClasses)
            CheckClassCount(dataset, modelClasses);
        return dataset;
    }

    /// <summary>
    /// Refuses a labelled dataset with more classes than the model has (<paramref name="numClasses"/>). Fewer is
    /// allowed, as in the reference (which trains CIFAR-10 labels on a 1000-class embedding when asked).
    /// </summary>
    /// <exception cref="DataException">The dataset has no labels, or more classes than the model.</exception>
    public static void CheckClassCount(IImageDataset dataset, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 1);
        var names = dataset.ClassNames
            ?? throw new DataException(dataset.Source, $"{dataset.Source} was opened without class labels, but the model is class-conditional");
        if (names.Count > numClasses)
        {
            var shown = string.Join(", ", names.Take(5)) + (names.Count > 5 ? ", …" : "");
            throw new DataException(dataset.Source,
                $"{dataset.Source} has {names.Count} classes ({shown}) but the model has NumClasses = {numClasses}; " +
                $"labels {numClasses} and above would fall outside its class embedding");
        }
    }

    /// <summary>
    /// Items <paramref name="indices"/> decoded into one batch on <paramref name="device"/>, in the given order, on
    /// the calling thread (for evaluation, which visits every item once; training uses <see cref="TrainingDataLoader"/>).
    /// </summary>
    /// <exception cref="DataException">An item cannot be read; the message names its file.</exception>
    public static TrainingBatch DecodeBatch(this IImageDataset dataset, IReadOnlyList<int> indices, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(indices);
        return DecodedItems.Decode(dataset, indices, decodeThreads: 1, CancellationToken.None).ToBatch(dataset, device ?? CPU);
    }
}

/// <summary>
/// Items of a dataset decoded to floats and labels, before they become tensors: what <see cref="ImageDatasets.DecodeBatch"/>
/// does on the calling thread and <see cref="TrainingDataLoader"/> ahead of time on a background task.
/// </summary>
sealed record DecodedItems(int Count, float[] Images, long[]? Labels)
{
    /// <summary>Decodes <paramref name="items"/> in order, on <paramref name="decodeThreads"/> threads.</summary>
    public static DecodedItems Decode(IImageDataset dataset, IReadOnlyList<int> items, int decodeThreads, CancellationToken token)
    {
        var itemLength = dataset.ItemLength;
        var images = new float[items.Count * itemLength];
        var labels = dataset.ClassNames is null ? null : new long[items.Count];
        void DecodeItem(int i)
        {
            var label = dataset.Decode(items[i], images.AsSpan(i * itemLength, itemLength));
            if (labels is not null)
            {
                labels[i] = label ?? throw new InvalidOperationException(
                    $"{dataset.Source}: item {items[i]} has no label although the dataset has classes");
            }
        }

        if (decodeThreads == 1)
        {
            for (var i = 0; i < items.Count; i++)
            {
                token.ThrowIfCancellationRequested();
                DecodeItem(i);
            }
        }
        else
        {
            var options = new ParallelOptions { MaxDegreeOfParallelism = decodeThreads, CancellationToken = token };
            Parallel.For(0, items.Count, options, DecodeItem);
        }
        return new DecodedItems(items.Count, images, labels);
    }

    /// <summary>The images [N, C, H, W] float32 and labels [N] int64 as tensors on <paramref name="device"/>, made on the calling thread.</summary>
    public TrainingBatch ToBatch(IImageDataset dataset, Device device)
    {
        var images = tensor(Images, [Count, dataset.Channels, dataset.ImageSize, dataset.ImageSize], ScalarType.Float32, device);
        var labels = Labels is null ? null : tensor(Labels, [Count], ScalarType.Int64, device);
        return new TrainingBatch(images, labels);
    }
}
