using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using static ImprovedDdpm.Tests.Runtime.Data.ImageFiles;

namespace ImprovedDdpm.Tests.Runtime.Data;

/// <summary>
/// The reference's resize pipeline on images small enough to check by hand. Values that depend on Pillow's own
/// arithmetic were checked against Pillow 9.4 running the reference's code.
/// </summary>
public sealed class ReferenceImageTransformTests
{
    [Fact]
    public void Sizes_follow_the_references_arithmetic()
    {
        Assert.Equal((32, 32), ReferenceImageTransform.SizeAfterHalving(64, 64, 32));
        Assert.Equal((63, 64), ReferenceImageTransform.SizeAfterHalving(63, 64, 32)); // 63 < 2 · 32: no halving
        Assert.Equal((32, 16), ReferenceImageTransform.SizeAfterHalving(130, 67, 16)); // (65, 33), then (32, 16)

        // round() is Python's: halves go to the even neighbour.
        Assert.Equal((4, 3), ReferenceImageTransform.ScaledSize(3, 2, 3)); // 3 · 1.5 = 4.5 → 4
        Assert.Equal((8, 3), ReferenceImageTransform.ScaledSize(5, 2, 3)); // 5 · 1.5 = 7.5 → 8
        Assert.Equal((3, 10), ReferenceImageTransform.ScaledSize(2, 7, 3)); // 7 · 1.5 = 10.5 → 10; the short side 2 · 1.5 = 3
        Assert.Equal((22, 16), ReferenceImageTransform.ScaledSize(25, 18, 16)); // 22.22 → 22

        Assert.Equal((1, 0), ReferenceImageTransform.CropOffset(7, 4, 4));
        Assert.Equal((0, 1), ReferenceImageTransform.CropOffset(4, 7, 4));
        Assert.Equal((1, 0), ReferenceImageTransform.CropOffset(6, 4, 4));
    }

    [Fact]
    public void A_constant_colour_stays_constant_through_halving_bicubic_and_crop()
    {
        var colour = new Rgba32(200, 10, 77);
        using var large = Make(37, 23, (_, _) => colour); // halved to 18 × 11, bicubic to 13 × 8, cropped
        using var small = Make(3, 2, (_, _) => colour); // upsampled: bicubic to 4 × 3, cropped
        foreach (var bytes in new[] { Apply(large, 8), Apply(small, 3) })
        {
            foreach (var (channel, value) in new[] { (0, 200), (1, 10), (2, 77) })
                Assert.All(Enumerable.Range(0, bytes.GetLength(1)), y => Assert.All(Row(bytes, channel, y), v => Assert.Equal(value, v)));
        }
    }

    [Fact]
    public void Box_halving_averages_two_by_two_blocks()
    {
        // 8 × 8 of 2 × 2 blocks, block (i, j) = 16·i + 4·j + 3 in red: halved once to 4 × 4, then nothing to scale or crop.
        using var image = Make(8, 8, (x, y) => new Rgba32((byte)(16 * (y / 2) + 4 * (x / 2) + 3), 0, 0));
        var bytes = Apply(image, 4);
        for (var i = 0; i < 4; i++)
            Assert.Equal(Enumerable.Range(0, 4).Select(j => (byte)(16 * i + 4 * j + 3)), Row(bytes, 0, i));
    }

    [Fact]
    public void Box_halving_rounds_between_the_horizontal_and_vertical_pass_as_pillow()
    {
        // [[0, 1], [0, 0]]: the mean is 0.25, but Pillow rounds the rows first (0.5 → 1, 0) and then (1 + 0) / 2 → 1.
        using var image = Make(2, 2, (x, y) => Grey((byte)(x == 1 && y == 0 ? 1 : 0)));
        Assert.Equal(1, Apply(image, 1)[0, 0, 0]);
    }

    [Fact]
    public void Halving_an_odd_side_takes_the_source_pixels_pillow_takes()
    {
        // 37 columns → 18: each output averages the columns whose centres fall in its box; column 9's box edge falls on
        // column 18's centre and Pillow's float64 arithmetic includes it, so column 9 is the mean of 3 columns (18, 19,
        // 20), the others of 2. (ImageSharp's box resampler decides that edge the other way.) Rows: 36 → 18, exact.
        using var image = Make(37, 36, (x, _) => Grey((byte)(6 * x)));
        byte[] pillow = [3, 15, 27, 39, 51, 63, 75, 87, 99, 114, 129, 141, 153, 165, 177, 189, 201, 213];
        var bytes = Apply(image, 18);
        Assert.Equal(pillow, Row(bytes, 0, 0));
        Assert.Equal(pillow, Row(bytes, 2, 17));
    }

    [Fact]
    public void Centre_crop_starts_at_half_the_excess_rounded_down()
    {
        using var wide = Make(7, 4, (x, y) => new Rgba32((byte)(10 * x), (byte)(10 * y), 0)); // no resize at 4: crop x from 1
        var bytes = Apply(wide, 4);
        Assert.Equal([10, 20, 30, 40], Row(bytes, 0, 0));
        Assert.Equal([0, 10, 20, 30], Column(bytes, 1, 0));

        using var tall = Make(4, 7, (x, y) => new Rgba32((byte)(10 * x), (byte)(10 * y), 0)); // crop y from 1
        bytes = Apply(tall, 4);
        Assert.Equal([0, 10, 20, 30], Row(bytes, 0, 0));
        Assert.Equal([10, 20, 30, 40], Column(bytes, 1, 0));
    }

    [Fact]
    public void Rgba_is_resized_premultiplied_so_transparent_pixels_do_not_darken()
    {
        using var temp = new TempFolder();
        Rgba32 Pixel(int x, int y) => x == 0 && y == 0 ? new Rgba32(255, 0, 0, 255) : new Rgba32(0, 0, 0, 0);
        var rgba = SavePng(temp.File("rgba.png"), 2, 2, Pixel, PngColorType.RgbWithAlpha);
        var rgb = SavePng(temp.File("rgb.png"), 2, 2, Pixel);
        Assert.Equal(255, LoadFile(rgba, 1)[0, 0, 0]); // Pillow: RGBa average (64, 0, 0, 64) → RGBA (255, 0, 0, 64)
        Assert.Equal(64, LoadFile(rgb, 1)[0, 0, 0]); // an opaque image averages the colours: (255 + 0 + 0 + 0) / 4
    }

    [Fact]
    public void Paletted_images_are_resized_nearest_as_pillow_forces()
    {
        using var image = Make(4, 4, (x, y) => Grey((byte)(10 * (4 * y + x))));
        var bytes = Apply(image, 2, PillowMode.Paletted); // halved 4 → 2 picking source 1 and 3 (centres of 2-pixel steps)
        Assert.Equal([50, 70], Row(bytes, 0, 0));
        Assert.Equal([130, 150], Row(bytes, 0, 1));

        using var temp = new TempFolder();
        var path = SavePng(temp.File("palette.png"), 4, 4, (x, y) => Grey((byte)(x < 2 ? 0 : 255)), PngColorType.Palette);
        using var decoded = Image.Load(ReferenceImageTransform.Configuration, path, out var format);
        Assert.Equal(PillowMode.Paletted, ReferenceImageTransform.ModeOf(decoded, format));
    }

    [Fact]
    public void Greyscale_becomes_three_equal_channels()
    {
        using var temp = new TempFolder();
        var path = SavePng(temp.File("grey.png"), 2, 2, (x, y) => Grey((byte)(100 + 10 * x + y)), PngColorType.Grayscale);
        var bytes = LoadFile(path, 2);
        for (var c = 0; c < 3; c++)
        {
            Assert.Equal([100, 110], Row(bytes, c, 0));
            Assert.Equal([101, 111], Row(bytes, c, 1));
        }
    }

    [Fact]
    public void Sixteen_bit_rgb_keeps_the_high_byte_as_pillow()
    {
        using var temp = new TempFolder();
        var path = temp.File("deep.png");
        using (var image = new Image<Rgb48>(1, 1))
        {
            image[0, 0] = new Rgb48(0xABFF, 0x1234, 0x00FF); // scaled to 8 bits these would round to 172, 18, 1
            image.SaveAsPng(path, new PngEncoder { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit16 });
        }
        var bytes = LoadFile(path, 1);
        Assert.Equal([0xAB, 0x12, 0x00], new[] { bytes[0, 0, 0], bytes[1, 0, 0], bytes[2, 0, 0] });
    }

    [Fact]
    public void An_undecodable_file_is_named()
    {
        using var temp = new TempFolder();
        var path = temp.File("broken.png");
        File.WriteAllBytes(path, [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
        var e = Assert.Throws<DataException>(() => LoadFile(path, 4));
        Assert.StartsWith($"cannot read image {path}: ", e.Message);
        Assert.Equal(path, e.Path);
    }
}
