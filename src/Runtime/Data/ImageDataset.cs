using System.Globalization;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>Bad training or evaluation data; the message names the file or folder and what is wrong with it.</summary>
public sealed class DataException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Images at a model's resolution, in a fixed order, with class labels when the model is class-conditional (the
/// reference's <c>ImageDataset</c>). Sources: a folder of jpg/jpeg/png files (searched recursively; the label is the
/// file name before its first underscore), CIFAR-10's binary batches (<c>data_batch_*.bin</c>, <c>test_batch.bin</c>),
/// or an <c>.npz</c> with NHWC uint8 <c>arr_0</c> and optional labels <c>arr_1</c>.
/// </summary>
public sealed class ImageDataset
{
    static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];

    readonly Func<int, byte[]> decode;

    ImageDataset(int count, int imageSize, long[]? labels, IReadOnlyList<string>? classNames, Func<int, byte[]> decode)
    {
        Count = count;
        ImageSize = imageSize;
        Labels = labels;
        ClassNames = classNames;
        this.decode = decode;
    }

    public int Count { get; }

    public int ImageSize { get; }

    /// <summary>One label per image, or null when labels were not asked for or the source has none.</summary>
    public long[]? Labels { get; }

    /// <summary>For an image folder: the class names in label order (sorted, as the reference sorts them).</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>Images <paramref name="indices"/> as [N, 3, S, S] float32 in [−1, 1], and their labels.</summary>
    public TrainingBatch Batch(IReadOnlyList<int> indices, Device? device = null)
    {
        var size = ImageSize * ImageSize * 3;
        var pixels = new byte[indices.Count * size];
        for (var i = 0; i < indices.Count; i++) Buffer.BlockCopy(decode(indices[i]), 0, pixels, i * size, size);
        using var scope = NewDisposeScope();
        var images = (tensor(pixels, [indices.Count, ImageSize, ImageSize, 3]).to(ScalarType.Float32) / 127.5 - 1)
            .permute(0, 3, 1, 2).contiguous().to(device ?? CPU).DetachFromDisposeScope();
        var labels = Labels is null ? null : tensor(indices.Select(i => Labels[i]).ToArray(), device: device ?? CPU).clone().DetachFromDisposeScope();
        return new TrainingBatch(images, labels);
    }

    /// <summary>Opens <paramref name="path"/> (folder, CIFAR-10 folder or .npz) for a model of the given resolution.</summary>
    /// <exception cref="DataException">The path is missing, empty or holds data of the wrong shape; the message says which.</exception>
    public static ImageDataset Open(string path, int imageSize, bool withLabels)
    {
        if (File.Exists(path) && path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) return FromNpz(path, imageSize, withLabels);
        if (!Directory.Exists(path)) throw new DataException($"no such data folder or .npz file: {path}");
        var cifar = Directory.EnumerateFiles(path, "*.bin").Where(f => Path.GetFileName(f) is var n && (n.StartsWith("data_batch_", StringComparison.Ordinal) || n == "test_batch.bin")).Order(StringComparer.Ordinal).ToList();
        return cifar.Count > 0 ? FromCifar(cifar, imageSize, withLabels) : FromFolder(path, imageSize, withLabels);
    }

    static ImageDataset FromFolder(string folder, int imageSize, bool withLabels)
    {
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new DataException($"{folder} holds no .jpg, .jpeg or .png images (searched recursively)");
        long[]? labels = null;
        List<string>? classes = null;
        if (withLabels)
        {
            var names = files.Select(f => Path.GetFileName(f).Split('_')[0]).ToList();
            classes = [.. names.Distinct().Order(StringComparer.Ordinal)];
            labels = [.. names.Select(n => (long)classes.IndexOf(n))];
        }
        return new ImageDataset(files.Count, imageSize, labels, classes, i => LoadImage(files[i], imageSize));
    }

    /// <summary>
    /// Reads and resizes one image as the reference does: halve with a box filter while the short side is at least twice
    /// the target, resize with bicubic so the short side is the target (sizes rounded half to even, as Python's round),
    /// convert to RGB and take the centre square. Returns HWC RGB bytes.
    /// </summary>
    public static byte[] LoadImage(string file, int imageSize)
    {
        Image<Rgb24> image;
        try
        {
            image = Image.Load<Rgb24>(file);
        }
        catch (Exception error) when (error is UnknownImageFormatException or InvalidImageContentException or NotSupportedException)
        {
            throw new DataException($"cannot read image {file}: {error.Message}", error);
        }
        using (image)
        {
            while (Math.Min(image.Width, image.Height) >= 2 * imageSize)
                image.Mutate(c => c.Resize(image.Width / 2, image.Height / 2, KnownResamplers.Box));
            var scale = (double)imageSize / Math.Min(image.Width, image.Height);
            var width = (int)Math.Round(image.Width * scale, MidpointRounding.ToEven);
            var height = (int)Math.Round(image.Height * scale, MidpointRounding.ToEven);
            if (width != image.Width || height != image.Height) image.Mutate(c => c.Resize(width, height, KnownResamplers.Bicubic));
            var top = (image.Height - imageSize) / 2;
            var left = (image.Width - imageSize) / 2;
            var pixels = new byte[imageSize * imageSize * 3];
            for (var y = 0; y < imageSize; y++)
            {
                for (var x = 0; x < imageSize; x++)
                {
                    var p = image[left + x, top + y];
                    var at = ((y * imageSize) + x) * 3;
                    (pixels[at], pixels[at + 1], pixels[at + 2]) = (p.R, p.G, p.B);
                }
            }
            return pixels;
        }
    }

    static ImageDataset FromCifar(List<string> files, int imageSize, bool withLabels)
    {
        const int record = 1 + 3072;
        if (imageSize != 32) throw new DataException($"CIFAR-10 images are 32x32 but the model's are {imageSize}x{imageSize}");
        var data = new List<byte[]>();
        var labels = new List<long>();
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length == 0 || bytes.Length % record != 0)
                throw new DataException($"{file} is not a CIFAR-10 binary batch: {bytes.Length} bytes is not a whole number of {record}-byte records");
            for (var offset = 0; offset < bytes.Length; offset += record)
            {
                labels.Add(bytes[offset]);
                var pixels = new byte[3072];
                // Stored as R, G, B planes; HWC here.
                for (var i = 0; i < 1024; i++)
                {
                    for (var c = 0; c < 3; c++) pixels[(i * 3) + c] = bytes[offset + 1 + (c * 1024) + i];
                }
                data.Add(pixels);
            }
        }
        return new ImageDataset(data.Count, 32, withLabels ? [.. labels] : null, null, i => data[i]);
    }

    static ImageDataset FromNpz(string path, int imageSize, bool withLabels)
    {
        var arrays = Npz.Read(path);
        if (!arrays.TryGetValue("arr_0", out var images)) throw new DataException($"{path} has no arr_0 (the images); it holds {string.Join(", ", arrays.Keys)}");
        var expected = $"[N, {imageSize}, {imageSize}, 3] uint8";
        if (images.Dtype != "|u1" || images.Shape.Length != 4 || images.Shape[1] != imageSize || images.Shape[2] != imageSize || images.Shape[3] != 3)
            throw new DataException($"{path}: arr_0 is {images.Dtype} [{string.Join(", ", images.Shape)}]; the model needs {expected}");
        var count = (int)images.Shape[0];
        if (count == 0) throw new DataException($"{path}: arr_0 holds no images");
        long[]? labels = null;
        if (withLabels)
        {
            if (!arrays.TryGetValue("arr_1", out var y)) throw new DataException($"{path} has no arr_1 (labels), which a class-conditional model needs");
            labels = y.ToInt64();
            if (labels.Length != count) throw new DataException($"{path}: {labels.Length} labels for {count} images");
        }
        var size = imageSize * imageSize * 3;
        return new ImageDataset(count, imageSize, labels, null, i => images.Data.AsSpan(i * size, size).ToArray());
    }

    /// <summary>Checks labels against a model's class count, naming the first out-of-range one.</summary>
    public void CheckLabels(int numClasses, string source)
    {
        if (Labels is null) return;
        var bad = Array.FindIndex(Labels, l => l < 0 || l >= numClasses);
        if (bad >= 0)
            throw new DataException($"{source}: image {bad.ToString(CultureInfo.InvariantCulture)} has label {Labels[bad]}, outside the model's {numClasses} classes" +
                (ClassNames is null ? "" : $" (the folder has {ClassNames.Count} classes: {string.Join(", ", ClassNames.Take(5))}{(ClassNames.Count > 5 ? ", …" : "")})"));
    }
}
