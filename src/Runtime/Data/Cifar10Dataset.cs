using System.Text.RegularExpressions;

namespace ImprovedDdpm;

/// <summary>
/// CIFAR-10 in its binary distribution (<c>cifar-10-batches-bin</c>): files of 3073-byte records, one label byte (0–9)
/// then 32 × 32 red, green and blue planes, row-major. Given a folder, the training files
/// <c>data_batch_1.bin</c> … <c>data_batch_5.bin</c> are read (in number order); given one <c>.bin</c> file (such as
/// <c>test_batch.bin</c>), that file. Everything is held in memory (about 30 MB per file).
/// </summary>
/// <remarks>
/// The reference trains CIFAR-10 from PNGs written by its <c>datasets/cifar10.py</c> (named <c>{class}_{index}.png</c>);
/// reading the batches directly gives the same pixels and, since the class names sort in label order, the same labels.
/// At an image size other than 32 each image goes through the same resize as a 32 × 32 RGB PNG would
/// (<see cref="ReferenceImageTransform"/>).
/// </remarks>
public sealed partial class Cifar10Dataset : IImageDataset
{
    /// <summary>Side of a CIFAR-10 image.</summary>
    public const int Side = 32;

    /// <summary>Bytes per record: the label, then 3 × 32 × 32 pixels.</summary>
    public const int RecordLength = 1 + 3 * Side * Side;

    /// <summary>The CIFAR-10 classes in label order (<c>batches.meta.txt</c>).</summary>
    public static IReadOnlyList<string> Classes { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    readonly byte[] records;
    readonly bool labelled;

    /// <summary>Reads the batch files at <paramref name="path"/> (a folder or one <c>.bin</c> file).</summary>
    /// <exception cref="DataException">No such file or folder, a folder without <c>data_batch_N.bin</c>, a file that is
    /// not whole records, or a label byte above 9.</exception>
    public Cifar10Dataset(string path, int imageSize = Side, bool classConditional = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 1);
        Source = path;
        ImageSize = imageSize;
        labelled = classConditional;
        Files = File.Exists(path) ? [path] : TrainingFiles(path);
        if (Files.Count == 0)
            throw new DataException(path, $"{path} holds no CIFAR-10 training batches (data_batch_1.bin … data_batch_5.bin)");

        using var all = new MemoryStream();
        foreach (var file in Files)
        {
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length == 0 || bytes.Length % RecordLength != 0)
            {
                throw new DataException(file,
                    $"{file} is {bytes.Length} bytes, not a whole number of CIFAR-10 records of {RecordLength} bytes " +
                    $"(1 label byte and 3 × {Side} × {Side} pixels; a batch file is 10000 records, {10000 * RecordLength} bytes)");
            }
            for (var r = 0; r < bytes.Length / RecordLength; r++)
            {
                var label = bytes[r * RecordLength];
                if (label >= Classes.Count)
                    throw new DataException(file, $"record {r} of {file} has label {label}; CIFAR-10 labels are 0 to 9 (is this CIFAR-100?)");
            }
            all.Write(bytes);
        }
        records = all.ToArray();
        Count = records.Length / RecordLength;
        ClassNames = classConditional ? Classes : null;
    }

    /// <summary>Whether <paramref name="folder"/> holds CIFAR-10 training batches (<c>data_batch_N.bin</c>).</summary>
    public static bool IsCifarFolder(string folder) => Directory.Exists(folder) && TrainingFiles(folder).Count > 0;

    static List<string> TrainingFiles(string folder)
    {
        if (!Directory.Exists(folder)) throw new DataException(folder, $"CIFAR-10 folder {folder} does not exist");
        return Directory.EnumerateFiles(folder)
            .Select(file => (file, match: BatchName().Match(Path.GetFileName(file))))
            .Where(p => p.match.Success)
            .OrderBy(p => int.Parse(p.match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            .Select(p => p.file)
            .ToList();
    }

    [GeneratedRegex(@"^data_batch_(\d+)\.bin$")]
    private static partial Regex BatchName();

    /// <summary>The batch files read, in order.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <inheritdoc />
    public string Source { get; }

    /// <inheritdoc />
    public int Count { get; }

    /// <inheritdoc />
    public int ImageSize { get; }

    /// <inheritdoc />
    public int Channels => 3;

    /// <summary>The ten CIFAR-10 class names when opened class-conditional.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>The label of item <paramref name="index"/> as stored (whether or not the dataset is class-conditional).</summary>
    public int Label(int index) => records[(long)index * RecordLength];

    /// <inheritdoc />
    public int? Decode(int index, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var record = records.AsSpan(index * RecordLength, RecordLength);
        var planes = record[1..];
        if (ImageSize == Side)
        {
            PixelConversion.ChwToChw(planes, destination);
        }
        else
        {
            const int plane = Side * Side;
            var pixels = new RgbaPixels(Side, Side);
            for (var i = 0; i < plane; i++)
            {
                pixels.Data[4 * i] = planes[i];
                pixels.Data[4 * i + 1] = planes[plane + i];
                pixels.Data[4 * i + 2] = planes[2 * plane + i];
                pixels.Data[4 * i + 3] = 255;
            }
            ReferenceImageTransform.Apply(pixels, PillowMode.Opaque, ImageSize, destination);
        }
        return labelled ? record[0] : null;
    }
}
