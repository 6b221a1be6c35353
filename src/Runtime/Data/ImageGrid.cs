using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ImprovedDdpm;

/// <summary>Writes a batch of images as one PNG: a near-square grid with a 2-pixel gap.</summary>
public static class ImageGrid
{
    const int Gap = 2;

    /// <param name="pixels">NHWC uint8, C = 3 (RGB) or 1 (grey).</param>
    public static void SavePng(string path, byte[] pixels, int count, int height, int width, int channels)
    {
        if (count < 1) throw new ArgumentException("there are no images to write", nameof(count));
        if (channels is not (1 or 3)) throw new ArgumentException($"images must have 1 or 3 channels; got {channels}", nameof(channels));
        var columns = (int)Math.Ceiling(Math.Sqrt(count));
        var rows = (count + columns - 1) / columns;
        using var grid = new Image<Rgb24>((columns * (width + Gap)) + Gap, (rows * (height + Gap)) + Gap, new Rgb24(255, 255, 255));
        for (var n = 0; n < count; n++)
        {
            var left = Gap + (n % columns * (width + Gap));
            var top = Gap + (n / columns * (height + Gap));
            for (var y = 0; y < height; y++)
            {
                for (var x = 0; x < width; x++)
                {
                    var at = (((((long)n * height) + y) * width) + x) * channels;
                    grid[left + x, top + y] = channels == 3
                        ? new Rgb24(pixels[at], pixels[at + 1], pixels[at + 2])
                        : new Rgb24(pixels[at], pixels[at], pixels[at]);
                }
            }
        }
        var temporary = path + ".tmp";
        grid.SaveAsPng(temporary);
        File.Move(temporary, path, overwrite: true);
    }
}
