using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Examples.Quickstart;

/// <summary>
/// The Quickstart's dataset, drawn deterministically from a seed: 16×16 PNGs of a circle, a square or a triangle in a
/// random colour, size and place on a pale grey background. File names start with the class (<c>circle_0007.png</c>), which
/// is how a class-conditional model's image folder is labelled. The SuperRes example draws the same scenes larger.
/// </summary>
static class ShapesDataset
{
    public static readonly string[] Classes = ["circle", "square", "triangle"];

    const int Supersampling = 4;

    /// <summary>Writes <paramref name="count"/> images of <paramref name="size"/>² pixels into <paramref name="folder"/>
    /// unless it already holds them. Shapes scale with the size: one seed draws the same scenes at every size.</summary>
    public static void Write(string folder, int count, int seed, int size = 16)
    {
        if (Directory.Exists(folder) && Directory.EnumerateFiles(folder, "*.png").Count() == count) return;
        Directory.CreateDirectory(folder);
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var shape = i % Classes.Length;
            using var image = Draw(shape, random, size);
            image.SaveAsPng(Path.Combine(folder, $"{Classes[shape]}_{i:D4}.png"));
        }
    }

    static Image<Rgb24> Draw(int shape, Random random, int size)
    {
        var background = new Rgb24(235, 235, 235);
        var colour = Hue(random.NextDouble());
        var radius = (3.5 + 2.5 * random.NextDouble()) * size / 16;
        var cx = radius + (size - 2 * radius) * random.NextDouble();
        var cy = radius + (size - 2 * radius) * random.NextDouble();
        var image = new Image<Rgb24>(size, size);
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                // Coverage of the pixel by the shape, from a 4×4 grid of sample points: smooth edges.
                var inside = 0;
                for (var sy = 0; sy < Supersampling; sy++)
                {
                    for (var sx = 0; sx < Supersampling; sx++)
                    {
                        var px = x + (sx + 0.5) / Supersampling - cx;
                        var py = y + (sy + 0.5) / Supersampling - cy;
                        if (Inside(shape, px, py, radius)) inside++;
                    }
                }
                var a = inside / (double)(Supersampling * Supersampling);
                image[x, y] = new Rgb24(Mix(background.R, colour.R, a), Mix(background.G, colour.G, a), Mix(background.B, colour.B, a));
            }
        }
        return image;
    }

    static bool Inside(int shape, double x, double y, double r) => shape switch
    {
        0 => x * x + y * y <= r * r,
        1 => Math.Abs(x) <= r * 0.8 && Math.Abs(y) <= r * 0.8,
        // An upright triangle: below the two slanted edges, above the base.
        _ => y <= r * 0.7 && y >= -r + 2 * Math.Abs(x) * 1.1,
    };

    static byte Mix(byte from, byte to, double amount) => (byte)Math.Round(from + (to - from) * amount);

    /// <summary>A saturated, fairly dark colour of hue <paramref name="h"/> ∈ [0, 1).</summary>
    static Rgb24 Hue(double h)
    {
        var sector = h * 6;
        var f = sector - Math.Floor(sector);
        var (r, g, b) = ((int)sector) switch
        {
            0 => (1d, f, 0d),
            1 => (1 - f, 1d, 0d),
            2 => (0d, 1d, f),
            3 => (0d, 1 - f, 1d),
            4 => (f, 0d, 1d),
            _ => (1d, 0d, 1 - f),
        };
        return new Rgb24((byte)(r * 180), (byte)(g * 180), (byte)(b * 180));
    }
}
