namespace ImprovedDdpm;

/// <summary>
/// Images in a NumPy <c>.npz</c> in the layout the reference's scripts write (<c>image_sample.py</c>, the evaluation
/// batches): <c>arr_0</c> uint8 (N, H, W, C) with C = 3 and H = W = the image size, and for class-conditional use
/// <c>arr_1</c> integer labels (N,). The images are not resized: they must already have the model's size. The pixels are
/// held in memory (N · H · W · 3 bytes).
/// </summary>
public sealed class NpzDataset : IImageDataset
{
    /// <summary>Items per chunk of memory, so more than 2 GiB of pixels can be held.</summary>
    readonly int itemsPerChunk;
    readonly byte[][] chunks;
    readonly int itemBytes;
    readonly long[]? labels;

    /// <exception cref="DataException">The file is missing or not an .npz; <c>arr_0</c> is missing or has another dtype or
    /// shape; class-conditional without an <c>arr_1</c> of one non-negative integer label per image.</exception>
    public NpzDataset(string path, int imageSize, bool classConditional = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 1);
        Source = path;
        ImageSize = imageSize;
        using var npz = new NpzReader(path);
        if (!npz.Contains("arr_0"))
            throw new DataException(path, $"{path} has no arr_0 (the images); it holds {(npz.Names.Count == 0 ? "no arrays" : string.Join(", ", npz.Names))}");

        using (var stream = npz.Open("arr_0", out var header))
        {
            var shape = header.Shape;
            if (header.DType != NpyDType.UInt8 || header.FortranOrder || shape.Length != 4 || shape[1] != imageSize || shape[2] != imageSize || shape[3] != 3)
            {
                throw new DataException(path,
                    $"arr_0 in {path} is {header.Descr}{(header.FortranOrder ? " (Fortran order)" : "")} with shape {header.ShapeText}; expected uint8 ('|u1') " +
                    $"images (N, {imageSize}, {imageSize}, 3): NHWC RGB of the model's image size {imageSize}, C order");
            }
            if (shape[0] > int.MaxValue) throw new DataException(path, $"arr_0 in {path} has {shape[0]} images, too many");
            Count = (int)shape[0];
            itemBytes = imageSize * imageSize * 3;
            itemsPerChunk = Math.Max(1, (1 << 30) / itemBytes);
            chunks = new byte[(Count + itemsPerChunk - 1) / itemsPerChunk][];
            for (var c = 0; c < chunks.Length; c++)
            {
                chunks[c] = new byte[(long)Math.Min(itemsPerChunk, Count - c * itemsPerChunk) * itemBytes];
                if (!NpyHeader.TryReadExactly(stream, chunks[c]))
                    throw new DataException(path, $"arr_0 in {path} is truncated: shape {header.ShapeText} needs {header.DataLength} bytes");
            }
        }

        if (classConditional)
        {
            if (!npz.Contains("arr_1"))
                throw new DataException(path, $"{path} has no arr_1 (labels), which class-conditional training needs; it holds {string.Join(", ", npz.Names)}");
            labels = npz.ReadInt64("arr_1", out var labelHeader);
            if (labelHeader.Shape.Length != 1 || labelHeader.Shape[0] != Count)
                throw new DataException(path, $"arr_1 in {path} has shape {labelHeader.ShapeText}; expected ({Count},): one label per image of arr_0");
            var negative = Array.FindIndex(labels, label => label < 0);
            if (negative >= 0)
                throw new DataException(path, $"arr_1 in {path} has label {labels[negative]} at index {negative}; labels are class indices from 0");
            var classes = labels.Length == 0 ? 0 : (int)Math.Min(labels.Max() + 1, int.MaxValue);
            ClassNames = Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        }
    }

    /// <inheritdoc />
    public string Source { get; }

    /// <inheritdoc />
    public int Count { get; }

    /// <inheritdoc />
    public int ImageSize { get; }

    /// <inheritdoc />
    public int Channels => 3;

    /// <summary>Class names "0", "1", … up to the largest label, when opened class-conditional.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <inheritdoc />
    public int? Decode(int index, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var pixels = chunks[index / itemsPerChunk].AsSpan(index % itemsPerChunk * itemBytes, itemBytes);
        PixelConversion.HwcToChw(pixels, ImageSize * ImageSize, destination);
        return labels is null ? null : (int)labels[index];
    }
}
