using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Advanced;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;

namespace ImprovedDdpm;

/// <summary>
/// How Pillow holds a decoded image, which decides how the reference's <c>resize</c> calls treat it. Pillow resamples
/// <c>RGBA</c>/<c>LA</c> images with premultiplied alpha and forces NEAREST for paletted (<c>P</c>) and 1-bit (<c>1</c>)
/// images whatever filter is asked for; every other mode (<c>RGB</c>, <c>L</c>, <c>CMYK</c>, …) is filtered channel by
/// channel.
/// </summary>
public enum PillowMode
{
    /// <summary><c>RGB</c>, <c>L</c>, <c>CMYK</c> and other modes without alpha: BOX and BICUBIC as asked.</summary>
    Opaque,

    /// <summary><c>RGBA</c> and <c>LA</c>: BOX and BICUBIC on premultiplied colour; the alpha is dropped afterwards.</summary>
    Alpha,

    /// <summary><c>P</c> (paletted PNG, GIF) and <c>1</c> (1-bit PNG): Pillow resizes these with NEAREST.</summary>
    Paletted,
}

/// <summary>
/// The reference's image preprocessing (<c>ImageDataset.__getitem__</c> in <c>image_datasets.py</c>): while the short
/// side is at least twice the resolution, halve both sides (<c>x // 2</c>) with a BOX filter; then scale the short side
/// to the resolution with BICUBIC (sizes rounded as Python's <c>round</c>, half to even); convert to RGB; centre-crop;
/// map each byte v to <c>v / 127.5 − 1</c> in float32, channel-major. Images smaller than the resolution are upsampled
/// by the same bicubic step, as in the reference.
/// </summary>
/// <remarks>
/// <para>The resizing is Pillow's own algorithm reimplemented (fixed-point weights, 8-bit rounding between the horizontal
/// and vertical passes, Pillow's choice of source pixels), so a PNG gives byte for byte the reference's pixels.
/// ImageSharp's <see cref="SixLabors.ImageSharp.Processing.KnownResamplers.Box"/> and
/// <see cref="SixLabors.ImageSharp.Processing.KnownResamplers.Bicubic"/> use the same kernels, but were measured against
/// Pillow 9.4 to differ by up to 24 grey levels on noise images: at odd sizes (the <c>x // 2</c> of an odd side) a source
/// pixel whose centre lies exactly on the box's edge is taken by one and left by the other, which turns an average of
/// two into one of three; and their float intermediate and premultiplied alpha differ from Pillow's 8-bit ones (up to
/// 255 levels for RGBA pixels of low alpha). ImageSharp is used only to decode.</para>
/// <para>What still differs from the reference: JPEG decoding, since ImageSharp's decoder is not Pillow's libjpeg-turbo
/// (their IDCT and chroma upsampling differ: most pixels by 0 to 3 levels, up to 13 measured on synthetic images with
/// strong colour detail); 16-bit greyscale PNGs, which Pillow opens as 32-bit integers and clips to
/// 255 when converting to RGB (a white image), are scaled to 8 bits here; a GIF whose palette is exactly the grey ramp,
/// which Pillow opens as <c>L</c> and filters, is treated as paletted (NEAREST). 16-bit RGB(A) PNGs keep the high byte
/// of each sample, as Pillow does.</para>
/// </remarks>
public static class ReferenceImageTransform
{
    /// <summary>
    /// The ImageSharp configuration used for decoding and encoding: one thread per image (decoding runs beside training,
    /// which has the cores) and only the first frame of a GIF (what Pillow's <c>Image.open</c> shows).
    /// </summary>
    public static Configuration Configuration { get; } = CreateConfiguration();

    static Configuration CreateConfiguration()
    {
        var configuration = Configuration.Default.Clone();
        configuration.MaxDegreeOfParallelism = 1;
        configuration.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = FrameDecodingMode.First });
        return configuration;
    }

    /// <summary>The size after the reference's repeated BOX halving: while min(w, h) ≥ 2·resolution, (w, h) ← (w // 2, h // 2).</summary>
    public static (int Width, int Height) SizeAfterHalving(int width, int height, int resolution)
    {
        CheckSize(width, height, resolution);
        while (Math.Min(width, height) >= 2 * resolution)
            (width, height) = (width / 2, height / 2);
        return (width, height);
    }

    /// <summary>
    /// The size of the BICUBIC step: scale = resolution / min(w, h) in float64, each side <c>round(side · scale)</c>
    /// with Python's rounding (half to even), so the short side becomes the resolution.
    /// </summary>
    public static (int Width, int Height) ScaledSize(int width, int height, int resolution)
    {
        CheckSize(width, height, resolution);
        var scale = resolution / (double)Math.Min(width, height);
        return ((int)Math.Round(width * scale, MidpointRounding.ToEven), (int)Math.Round(height * scale, MidpointRounding.ToEven));
    }

    /// <summary>The centre crop's top-left corner: ((w − resolution) // 2, (h − resolution) // 2).</summary>
    public static (int X, int Y) CropOffset(int width, int height, int resolution) =>
        ((width - resolution) / 2, (height - resolution) / 2);

    /// <summary>
    /// Decodes the image file at <paramref name="path"/> and writes its preprocessed pixels into
    /// <paramref name="destination"/> (3 · resolution² floats, CHW).
    /// </summary>
    /// <exception cref="DataException">The file cannot be read or is not a decodable image.</exception>
    public static void LoadFile(string path, int resolution, Span<float> destination)
    {
        RgbaPixels pixels;
        PillowMode mode;
        try
        {
            using var image = Image.Load(Configuration, path, out var format);
            mode = ModeOf(image, format);
            pixels = ToPixels(image);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DataException(path, $"cannot read image {path}: {ImageFileCheck.DescribeDecodeFailure(path, e)}", e);
        }
        Apply(pixels, mode, resolution, destination);
    }

    /// <summary>The Pillow mode a decoded file would have, from its format and header (see <see cref="PillowMode"/>).</summary>
    public static PillowMode ModeOf(Image image, IImageFormat format)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(format);
        if (format is GifFormat) return PillowMode.Paletted;
        if (format is PngFormat)
        {
            var png = image.Metadata.GetPngMetadata();
            return png.ColorType switch
            {
                PngColorType.Palette => PillowMode.Paletted,
                PngColorType.Grayscale when png.BitDepth == PngBitDepth.Bit1 => PillowMode.Paletted,
                PngColorType.RgbWithAlpha or PngColorType.GrayscaleWithAlpha => PillowMode.Alpha,
                _ => PillowMode.Opaque,
            };
        }
        return PillowMode.Opaque;
    }

    /// <summary>
    /// Preprocesses <paramref name="image"/> (left unchanged) into <paramref name="destination"/> (3 · resolution²
    /// floats, CHW, values byte / 127.5 − 1), resampling as Pillow would for <paramref name="mode"/>.
    /// </summary>
    public static void Apply(Image<Rgba32> image, PillowMode mode, int resolution, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        Apply(ToPixels(image), mode, resolution, destination);
    }

    internal static void Apply(RgbaPixels pixels, PillowMode mode, int resolution, Span<float> destination)
    {
        var plane = resolution * resolution;
        if (destination.Length != 3 * plane)
            throw new ArgumentException($"destination has {destination.Length} floats; 3 × {resolution}² = {3 * plane} are needed", nameof(destination));

        var halved = SizeAfterHalving(pixels.Width, pixels.Height, resolution);
        while (pixels.Width != halved.Width || pixels.Height != halved.Height)
            pixels = Resize(pixels, pixels.Width / 2, pixels.Height / 2, PillowResample.Filter.Box, mode);

        var (width, height) = ScaledSize(pixels.Width, pixels.Height, resolution);
        pixels = Resize(pixels, width, height, PillowResample.Filter.Bicubic, mode);

        var (x0, y0) = CropOffset(width, height, resolution);
        var data = pixels.Data;
        for (var y = 0; y < resolution; y++)
        {
            for (var x = 0; x < resolution; x++)
            {
                // RGB as Pillow's convert("RGB"): alpha dropped, not composited.
                var i = ((y0 + y) * width + x0 + x) * 4;
                var o = y * resolution + x;
                destination[o] = PixelConversion.ToUnit(data[i]);
                destination[plane + o] = PixelConversion.ToUnit(data[i + 1]);
                destination[2 * plane + o] = PixelConversion.ToUnit(data[i + 2]);
            }
        }
    }

    static RgbaPixels Resize(RgbaPixels pixels, int width, int height, PillowResample.Filter filter, PillowMode mode) => mode switch
    {
        PillowMode.Paletted => PillowResample.Nearest(pixels, width, height),
        PillowMode.Alpha => PillowResample.ResizePremultiplied(pixels, width, height, filter),
        _ => PillowResample.Resize(pixels, width, height, filter),
    };

    /// <summary>
    /// 8-bit RGBA as Pillow would hold the decoded file: 16-bit RGB(A) samples keep their high byte (Pillow's
    /// <c>RGB;16B</c> unpacking); everything else is ImageSharp's conversion to <see cref="Rgba32"/>.
    /// </summary>
    static RgbaPixels ToPixels(Image image)
    {
        var pixels = new RgbaPixels(image.Width, image.Height);
        var data = pixels.Data;
        switch (image)
        {
            case Image<Rgba64> wide:
                for (var y = 0; y < wide.Height; y++)
                {
                    var row = wide.DangerousGetPixelRowMemory(y).Span;
                    for (var x = 0; x < row.Length; x++)
                    {
                        var i = (y * wide.Width + x) * 4;
                        (data[i], data[i + 1], data[i + 2], data[i + 3]) =
                            ((byte)(row[x].R >> 8), (byte)(row[x].G >> 8), (byte)(row[x].B >> 8), (byte)(row[x].A >> 8));
                    }
                }
                break;
            case Image<Rgb48> wide:
                for (var y = 0; y < wide.Height; y++)
                {
                    var row = wide.DangerousGetPixelRowMemory(y).Span;
                    for (var x = 0; x < row.Length; x++)
                    {
                        var i = (y * wide.Width + x) * 4;
                        (data[i], data[i + 1], data[i + 2], data[i + 3]) =
                            ((byte)(row[x].R >> 8), (byte)(row[x].G >> 8), (byte)(row[x].B >> 8), (byte)255);
                    }
                }
                break;
            default:
                using (var rgba = image is Image<Rgba32> ? null : image.CloneAs<Rgba32>(Configuration))
                {
                    var source = rgba ?? (Image<Rgba32>)image;
                    for (var y = 0; y < source.Height; y++)
                    {
                        var row = source.DangerousGetPixelRowMemory(y).Span;
                        MemoryMarshal.AsBytes(row).CopyTo(data.AsSpan(y * source.Width * 4));
                    }
                }
                break;
        }
        return pixels;
    }

    static void CheckSize(int width, int height, int resolution)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(resolution, 1);
    }
}
