namespace ImprovedDdpm;

/// <summary>
/// A finite, indexable set of training images, each decoded on demand to what the network sees (reference:
/// <c>ImageDataset.__getitem__</c>): <see cref="Channels"/> × <see cref="ImageSize"/> × <see cref="ImageSize"/> float32 in
/// [−1, 1], channel-major (CHW), plus a class label when the dataset was opened class-conditional.
/// Implementations are safe to decode from several threads at once.
/// </summary>
public interface IImageDataset
{
    /// <summary>The file or folder the data comes from, for messages.</summary>
    string Source { get; }

    /// <summary>Number of items.</summary>
    int Count { get; }

    /// <summary>Height and width of every decoded item (square, as the reference's <c>resolution</c>).</summary>
    int ImageSize { get; }

    /// <summary>Channels of every decoded item: 3 (RGB).</summary>
    int Channels { get; }

    /// <summary>
    /// The class names, index = label; <see langword="null"/> when the dataset carries no labels (it was not opened
    /// class-conditional), so <see cref="Decode"/> returns <see langword="null"/> labels.
    /// </summary>
    IReadOnlyList<string>? ClassNames { get; }

    /// <summary>Number of classes, or <see langword="null"/> when the dataset carries no labels.</summary>
    int? NumClasses => ClassNames?.Count;

    /// <summary>Floats in one decoded item: <see cref="Channels"/> · <see cref="ImageSize"/>².</summary>
    int ItemLength => Channels * ImageSize * ImageSize;

    /// <summary>
    /// Decodes item <paramref name="index"/> into <paramref name="destination"/> (length <see cref="ItemLength"/>, CHW,
    /// values <c>byte / 127.5 − 1</c>) and returns its label, or <see langword="null"/> for an unlabelled dataset.
    /// </summary>
    /// <exception cref="DataException">The item cannot be read or decoded; the message names its file.</exception>
    int? Decode(int index, Span<float> destination);
}
