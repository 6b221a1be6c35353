namespace ImprovedDdpm;

/// <summary>An 8-bit RGBA image as Pillow holds one: rows of interleaved R, G, B, A bytes.</summary>
sealed class RgbaPixels(int width, int height, byte[] data)
{
    public RgbaPixels(int width, int height) : this(width, height, new byte[checked(width * height * 4)]) { }

    public int Width { get; } = width;
    public int Height { get; } = height;
    public byte[] Data { get; } = data;
}

/// <summary>
/// Pillow's <c>Image.resize</c> for 8-bit images, reimplemented so the reference's preprocessing is reproduced to the
/// byte: the BOX and BICUBIC filters with Pillow's coefficient windows, its 22-bit fixed-point weights, its horizontal
/// pass (rounded and clipped to 8 bits) before the vertical one; NEAREST as its affine scaling; and for RGBA the 8-bit
/// premultiplication round trip Pillow wraps around every resize. Following Pillow's <c>Resample.c</c> and
/// <c>Convert.c</c> (the algorithm has been unchanged since Pillow 4.3).
/// </summary>
static class PillowResample
{
    /// <summary>Pillow's <c>PRECISION_BITS</c>: 32 − 8 − 2, so sums of 8-bit values times weights fit an int32.</summary>
    const int PrecisionBits = 32 - 8 - 2;

    public enum Filter { Box, Bicubic }

    /// <summary>Pillow's <c>resize(size, filter)</c> on an RGB/L image (alpha, if any, resampled like a colour).</summary>
    public static RgbaPixels Resize(RgbaPixels source, int width, int height, Filter filter)
    {
        if (width == source.Width && height == source.Height) return source; // Pillow returns a copy
        var current = source;
        if (width != source.Width)
        {
            var (bounds, weights, size) = Coefficients(source.Width, width, filter);
            current = Horizontal(current, width, bounds, weights, size);
        }
        if (height != source.Height)
        {
            var (bounds, weights, size) = Coefficients(source.Height, height, filter);
            current = Vertical(current, height, bounds, weights, size);
        }
        return current;
    }

    /// <summary>
    /// Pillow's resize of an RGBA (or LA) image with a filter: convert to premultiplied <c>RGBa</c> in 8 bits, resample,
    /// convert back.
    /// </summary>
    public static RgbaPixels ResizePremultiplied(RgbaPixels source, int width, int height, Filter filter)
    {
        if (width == source.Width && height == source.Height) return source;
        var premultiplied = new RgbaPixels(source.Width, source.Height, (byte[])source.Data.Clone());
        Premultiply(premultiplied.Data);
        var resized = Resize(premultiplied, width, height, filter);
        Unpremultiply(resized.Data);
        return resized;
    }

    /// <summary>
    /// Pillow's NEAREST resize (<c>ImagingScaleAffine</c>): the source coordinate starts half a step in and advances by
    /// in/out per output pixel, accumulated in float64 and truncated.
    /// </summary>
    public static RgbaPixels Nearest(RgbaPixels source, int width, int height)
    {
        if (width == source.Width && height == source.Height) return source;
        var columns = NearestIndices(source.Width, width);
        var rows = NearestIndices(source.Height, height);
        var result = new RgbaPixels(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
                Array.Copy(source.Data, (rows[y] * source.Width + columns[x]) * 4, result.Data, (y * width + x) * 4, 4);
        }
        return result;
    }

    static int[] NearestIndices(int sourceLength, int length)
    {
        var step = (double)sourceLength / length;
        var position = step * 0.5;
        var indices = new int[length];
        for (var i = 0; i < length; i++)
        {
            indices[i] = Math.Min((int)position, sourceLength - 1);
            position += step;
        }
        return indices;
    }

    static double Evaluate(Filter filter, double x)
    {
        if (filter == Filter.Box) return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
        // Keys' cubic convolution with a = −0.5, written as Pillow evaluates it.
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    static double Support(Filter filter) => filter == Filter.Box ? 0.5 : 2.0;

    /// <summary>
    /// Pillow's <c>precompute_coeffs</c> and <c>normalize_coeffs_8bpc</c>: for each output pixel, the first source pixel
    /// and the count, and the normalised weights rounded to fixed point (half away from zero).
    /// </summary>
    static (int[] Bounds, int[] Weights, int KernelSize) Coefficients(int inSize, int outSize, Filter filter)
    {
        var scale = (double)inSize / outSize;
        var filterScale = Math.Max(scale, 1.0);
        var support = Support(filter) * filterScale;
        var kernelSize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var weights = new int[outSize * kernelSize];
        var k = new double[kernelSize];
        for (var xx = 0; xx < outSize; xx++)
        {
            var center = (xx + 0.5) * scale;
            var inverse = 1.0 / filterScale;
            var xmin = Math.Max((int)(center - support + 0.5), 0);
            var xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            var sum = 0.0;
            for (var x = 0; x < xmax; x++)
            {
                var w = Evaluate(filter, (x + xmin - center + 0.5) * inverse);
                k[x] = w;
                sum += w;
            }
            for (var x = 0; x < xmax; x++)
            {
                if (sum != 0.0) k[x] /= sum;
                var scaled = k[x] * (1 << PrecisionBits);
                weights[xx * kernelSize + x] = (int)(k[x] < 0 ? scaled - 0.5 : scaled + 0.5);
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        return (bounds, weights, kernelSize);
    }

    /// <summary>Pillow's <c>clip8</c>: the fixed-point sum shifted down and clipped to a byte.</summary>
    static byte Clip8(int value)
    {
        var shifted = value >> PrecisionBits;
        return shifted < 0 ? (byte)0 : shifted > 255 ? (byte)255 : (byte)shifted;
    }

    static RgbaPixels Horizontal(RgbaPixels source, int width, int[] bounds, int[] weights, int kernelSize)
    {
        var result = new RgbaPixels(width, source.Height);
        var input = source.Data;
        var output = result.Data;
        for (var y = 0; y < source.Height; y++)
        {
            var row = y * source.Width * 4;
            for (var xx = 0; xx < width; xx++)
            {
                var xmin = bounds[2 * xx];
                var count = bounds[2 * xx + 1];
                var kernel = xx * kernelSize;
                for (var c = 0; c < 4; c++)
                {
                    var sum = 1 << (PrecisionBits - 1);
                    for (var x = 0; x < count; x++)
                        sum += input[row + (xmin + x) * 4 + c] * weights[kernel + x];
                    output[(y * width + xx) * 4 + c] = Clip8(sum);
                }
            }
        }
        return result;
    }

    static RgbaPixels Vertical(RgbaPixels source, int height, int[] bounds, int[] weights, int kernelSize)
    {
        var width = source.Width;
        var result = new RgbaPixels(width, height);
        var input = source.Data;
        var output = result.Data;
        for (var yy = 0; yy < height; yy++)
        {
            var ymin = bounds[2 * yy];
            var count = bounds[2 * yy + 1];
            var kernel = yy * kernelSize;
            for (var x = 0; x < width; x++)
            {
                for (var c = 0; c < 4; c++)
                {
                    var sum = 1 << (PrecisionBits - 1);
                    for (var y = 0; y < count; y++)
                        sum += input[((ymin + y) * width + x) * 4 + c] * weights[kernel + y];
                    output[(yy * width + x) * 4 + c] = Clip8(sum);
                }
            }
        }
        return result;
    }

    /// <summary>Pillow's RGBA → RGBa: each colour times alpha / 255, rounded as its <c>MULDIV255</c>.</summary>
    static void Premultiply(byte[] rgba)
    {
        for (var i = 0; i < rgba.Length; i += 4)
        {
            var alpha = rgba[i + 3];
            for (var c = 0; c < 3; c++)
            {
                var t = rgba[i + c] * alpha + 128;
                rgba[i + c] = (byte)(((t >> 8) + t) >> 8);
            }
        }
    }

    /// <summary>Pillow's RGBa → RGBA: colour · 255 / alpha truncated and clipped; alpha 0 and 255 leave colour as is.</summary>
    static void Unpremultiply(byte[] rgba)
    {
        for (var i = 0; i < rgba.Length; i += 4)
        {
            var alpha = rgba[i + 3];
            if (alpha is 0 or 255) continue;
            for (var c = 0; c < 3; c++)
                rgba[i + c] = (byte)Math.Min(255, 255 * rgba[i + c] / alpha);
        }
    }
}
