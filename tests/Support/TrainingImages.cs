using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ImprovedDdpm.Tests.Support;

/// <summary>A small, learnable image folder for training tests: smooth two-colour gradients, labelled by file-name prefix.</summary>
static class TrainingImages
{
    /// <summary>Writes <paramref name="count"/> PNGs of <paramref name="size"/>² pixels named <c>{class}_{i}.png</c> and returns the folder.</summary>
    public static string Write(string folder, int count, int size, int classes = 3, int seed = 1)
    {
        Directory.CreateDirectory(folder);
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var label = i % classes;
            var from = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
            var to = new Rgb24((byte)(255 - from.R), (byte)(255 - from.G), (byte)(255 - from.B));
            using var image = new Image<Rgb24>(size, size);
            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    // The class decides the gradient's direction: horizontal, vertical or diagonal.
                    var a = label switch { 0 => x, 1 => y, _ => (x + y) / 2.0 } / (size - 1.0);
                    image[x, y] = new Rgb24(Mix(from.R, to.R, a), Mix(from.G, to.G, a), Mix(from.B, to.B, a));
                }
            }
            image.SaveAsPng(Path.Combine(folder, $"c{label}_{i:D4}.png"));
        }
        return folder;
    }

    static byte Mix(byte from, byte to, double amount) => (byte)Math.Round(from + (to - from) * amount);
}
