using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace ImprovedDdpm.Tests.Runtime.Data;

/// <summary>Tiny test images and the way back from decoded floats to bytes.</summary>
static class ImageFiles
{
    public static Image<Rgba32> Make(int width, int height, Func<int, int, Rgba32> pixel)
    {
        var image = new Image<Rgba32>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                image[x, y] = pixel(x, y);
        return image;
    }

    public static string SavePng(string path, int width, int height, Func<int, int, Rgba32> pixel, PngColorType colorType = PngColorType.Rgb)
    {
        using var image = Make(width, height, pixel);
        image.SaveAsPng(path, new PngEncoder { ColorType = colorType, BitDepth = PngBitDepth.Bit8 });
        return path;
    }

    public static Rgba32 Grey(byte v) => new(v, v, v);

    /// <summary>Decoded CHW floats back to bytes: [channel, y, x].</summary>
    public static byte[,,] Bytes(ReadOnlySpan<float> chw, int size)
    {
        var bytes = new byte[3, size, size];
        for (var c = 0; c < 3; c++)
            for (var y = 0; y < size; y++)
                for (var x = 0; x < size; x++)
                {
                    var value = chw[(c * size + y) * size + x];
                    var v = MathF.Round((value + 1) * 127.5f);
                    Assert.Equal(v / 127.5f - 1f, value); // exactly byte / 127.5 - 1 in float32
                    bytes[c, y, x] = (byte)v;
                }
        return bytes;
    }

    public static byte[,,] LoadFile(string path, int size)
    {
        var chw = new float[3 * size * size];
        ReferenceImageTransform.LoadFile(path, size, chw);
        return Bytes(chw, size);
    }

    public static byte[,,] Apply(Image<Rgba32> image, int size, PillowMode mode = PillowMode.Opaque)
    {
        var chw = new float[3 * size * size];
        ReferenceImageTransform.Apply(image, mode, size, chw);
        return Bytes(chw, size);
    }

    public static byte[] Row(byte[,,] bytes, int channel, int y) =>
        Enumerable.Range(0, bytes.GetLength(2)).Select(x => bytes[channel, y, x]).ToArray();

    public static byte[] Column(byte[,,] bytes, int channel, int x) =>
        Enumerable.Range(0, bytes.GetLength(1)).Select(y => bytes[channel, y, x]).ToArray();
}
