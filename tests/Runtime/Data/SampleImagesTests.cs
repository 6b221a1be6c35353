using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Data;

public sealed class SampleImagesTests
{
    [Fact]
    public void Samples_become_uint8_nhwc_as_the_reference_converts_them()
    {
        // [1, 3, 1, 2]: ((x + 1) · 127.5) clamped to [0, 255] and truncated.
        using var samples = tensor(new[] { -1f, 1f, 0f, 2f, -0.999f, 0.5f }, [1, 3, 1, 2]);
        Assert.Equal([0, 127, 0, 255, 255, 191], SampleImages.ToUInt8Nhwc(samples));
    }

    [Fact]
    public void Grid_places_images_in_rows_between_padding()
    {
        // Three 2 × 2 RGB images, image n filled with (n + 1) · 50 in red: two columns (⌈√3⌉), two rows, padding 1.
        var pixels = Enumerable.Range(0, 3).SelectMany(n => Enumerable.Repeat(new byte[] { (byte)((n + 1) * 50), 7, 9 }, 4).SelectMany(p => p)).ToArray();
        using var temp = new TempFolder();
        var path = temp.File("grid.png");
        SampleImages.SaveGridPng(path, pixels, [3, 2, 2, 3], padding: 1, scale: 1);
        using var grid = Image.Load<Rgb24>(path);
        Assert.Equal((7, 7), (grid.Width, grid.Height));
        Assert.Equal(new Rgb24(0, 0, 0), grid[0, 0]);
        Assert.Equal(new Rgb24(50, 7, 9), grid[1, 1]);
        Assert.Equal(new Rgb24(50, 7, 9), grid[2, 2]);
        Assert.Equal(new Rgb24(0, 0, 0), grid[3, 1]);
        Assert.Equal(new Rgb24(100, 7, 9), grid[4, 1]);
        Assert.Equal(new Rgb24(150, 7, 9), grid[1, 4]);
        Assert.Equal(new Rgb24(0, 0, 0), grid[5, 5]); // the empty fourth place
    }

    [Fact]
    public void Grid_of_grey_images_and_bad_shapes()
    {
        using var grid = SampleImages.Grid(new byte[] { 10, 20, 30, 40 }, [2, 1, 2, 1], columns: 1, padding: 0, scale: 1);
        Assert.Equal((2, 2), (grid.Width, grid.Height));
        Assert.Equal(new Rgb24(30, 30, 30), grid[0, 1]);
        Assert.Throws<ArgumentException>(() => SampleImages.Grid(new byte[8], [2, 1, 2, 2]));
        Assert.Throws<ArgumentException>(() => SampleImages.Grid(new byte[5], [2, 1, 2, 1]));
    }

    [Fact]
    public void Small_images_are_enlarged_by_repeating_pixels_with_a_thin_gap()
    {
        Assert.Equal((6, 3, 2, 1), (SampleImages.DefaultScale(16, 16), SampleImages.DefaultScale(32, 32), SampleImages.DefaultScale(64, 64), SampleImages.DefaultScale(256, 256)));
        // Two 2 × 2 grey images with four different values each, in one row, at the default scale (48 for 2 pixels).
        byte[] pixels = [10, 20, 30, 40, 50, 60, 70, 80];
        using var grid = SampleImages.Grid(pixels, [2, 2, 2, 1], columns: 2);
        const int scale = SampleImages.MinimumDisplaySize / 2, padding = 2;
        Assert.Equal((2 * (2 * scale + padding) + padding, 2 * scale + 2 * padding), (grid.Width, grid.Height));
        for (var n = 0; n < 2; n++)
        {
            var left = padding + n * (2 * scale + padding);
            for (var y = 0; y < 2 * scale; y++)
            {
                for (var x = 0; x < 2 * scale; x++)
                {
                    // Every shown pixel is its source pixel exactly: no value between neighbours, as smoothing would make.
                    var expected = pixels[n * 4 + (y / scale) * 2 + x / scale];
                    Assert.Equal(new Rgb24(expected, expected, expected), grid[left + x, padding + y]);
                }
            }
            Assert.Equal(new Rgb24(0, 0, 0), grid[left + 2 * scale, padding]); // the gap after it
        }
    }
}
