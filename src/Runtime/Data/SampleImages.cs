using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Advanced;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>Samples as images: the reference's conversion to uint8 NHWC, and a PNG grid to look at them.</summary>
public static class SampleImages
{
    /// <summary>
    /// Converts samples [N, C, H, W] in [−1, 1] to uint8 NHWC bytes as the reference's <c>image_sample.py</c> does:
    /// <c>((x + 1) · 127.5).clamp(0, 255).to(uint8)</c> (truncating), then <c>permute(0, 2, 3, 1)</c>.
    /// </summary>
    public static byte[] ToUInt8Nhwc(Tensor samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.dim() != 4) throw new ArgumentException($"samples must be [N, C, H, W]; got [{string.Join(", ", samples.shape)}]", nameof(samples));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var bytes = samples.Plus(1).Times(127.5).ClampTo(0, 255).to(ScalarType.Byte).permute(0, 2, 3, 1).contiguous().cpu();
        return bytes.data<byte>().ToArray();
    }

    /// <summary>Small images are enlarged in a grid, by a whole factor, until their longer side is at least this.</summary>
    public const int MinimumDisplaySize = 96;

    /// <summary>
    /// The whole factor that enlarges an image of this size to at least <see cref="MinimumDisplaySize"/> pixels (1 for
    /// images that large): a 16-pixel sample is shown 6 times as large, a 32-pixel one 3 times, a 64-pixel one twice.
    /// </summary>
    public static int DefaultScale(int height, int width)
    {
        var side = Math.Max(1, Math.Max(height, width));
        return Math.Max(1, (MinimumDisplaySize + side - 1) / side);
    }

    /// <summary>
    /// Writes uint8 NHWC images (<paramref name="shape"/> = N, H, W, C with C = 1 or 3) as one PNG grid,
    /// <paramref name="columns"/> images per row (⌈√N⌉ by default), each enlarged <paramref name="scale"/> times by
    /// repeating pixels (no smoothing, so what the model drew is what one sees; 0: <see cref="DefaultScale"/>), separated
    /// and framed by <paramref name="padding"/> black pixels (as torchvision's <c>make_grid</c>).
    /// </summary>
    public static void SaveGridPng(string path, ReadOnlySpan<byte> imagesNhwc, long[] shape, int columns = 0, int padding = 2, int scale = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var grid = Grid(imagesNhwc, shape, columns, padding, scale);
        grid.SaveAsPng(path);
    }

    /// <summary>The grid <see cref="SaveGridPng"/> writes, as an image the caller disposes.</summary>
    public static Image<Rgb24> Grid(ReadOnlySpan<byte> imagesNhwc, long[] shape, int columns = 0, int padding = 2, int scale = 0)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length != 4 || shape.Any(d => d < 1 || d > int.MaxValue) || shape[3] is not (1 or 3))
            throw new ArgumentException($"images must be (N, H, W, C) with C = 1 or 3; got ({string.Join(", ", shape)})", nameof(shape));
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        ArgumentOutOfRangeException.ThrowIfNegative(scale);
        var (count, height, width, channels) = ((int)shape[0], (int)shape[1], (int)shape[2], (int)shape[3]);
        if (scale == 0) scale = DefaultScale(height, width);
        if (imagesNhwc.Length != (long)count * height * width * channels)
            throw new ArgumentException($"{imagesNhwc.Length} bytes for shape ({string.Join(", ", shape)})", nameof(imagesNhwc));
        if (columns == 0) columns = (int)Math.Ceiling(Math.Sqrt(count));
        columns = Math.Min(columns, count);
        var rows = (count + columns - 1) / columns;

        var (shownHeight, shownWidth) = (height * scale, width * scale);
        var grid = new Image<Rgb24>(ReferenceImageTransform.Configuration,
            columns * (shownWidth + padding) + padding, rows * (shownHeight + padding) + padding, new Rgb24(0, 0, 0));
        for (var n = 0; n < count; n++)
        {
            var left = padding + n % columns * (shownWidth + padding);
            var top = padding + n / columns * (shownHeight + padding);
            for (var y = 0; y < shownHeight; y++)
            {
                var row = grid.DangerousGetPixelRowMemory(top + y).Span.Slice(left, shownWidth);
                var source = imagesNhwc.Slice(((n * height) + y / scale) * width * channels, width * channels);
                for (var x = 0; x < shownWidth; x++)
                {
                    var i = x / scale;
                    row[x] = channels == 3
                        ? new Rgb24(source[3 * i], source[3 * i + 1], source[3 * i + 2])
                        : new Rgb24(source[i], source[i], source[i]);
                }
            }
        }
        return grid;
    }
}
