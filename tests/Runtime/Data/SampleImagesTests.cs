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
        SampleImages.SaveGridPng(path, pixels, [3, 2, 2, 3], padding: 1);
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
        using var grid = SampleImages.Grid(new byte[] { 10, 20, 30, 40 }, [2, 1, 2, 1], columns: 1, padding: 0);
        Assert.Equal((2, 2), (grid.Width, grid.Height));
        Assert.Equal(new Rgb24(30, 30, 30), grid[0, 1]);
        Assert.Throws<ArgumentException>(() => SampleImages.Grid(new byte[8], [2, 1, 2, 2]));
        Assert.Throws<ArgumentException>(() => SampleImages.Grid(new byte[5], [2, 1, 2, 1]));
    }
}
