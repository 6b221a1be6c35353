namespace ImprovedDdpm.Tests.Runtime.Data;

public sealed class NpzDatasetTests
{
    static byte[] Pixels(int count, int size, int channels = 3) =>
        Enumerable.Range(0, count * size * size * channels).Select(i => (byte)(7 * i)).ToArray();

    [Fact]
    public void Reads_nhwc_images_and_labels()
    {
        using var temp = new TempFolder();
        var path = temp.File("data.npz");
        var pixels = Pixels(3, 4);
        Npz.SaveSamples(path, pixels, [3, 4, 4, 3], new long[] { 2, 0, 11 });

        var dataset = new NpzDataset(path, 4, classConditional: true);
        Assert.Equal(3, dataset.Count);
        Assert.Equal(12, ((IImageDataset)dataset).NumClasses); // "0" … "11": the largest label + 1
        var chw = new float[3 * 16];
        Assert.Equal(11, dataset.Decode(2, chw));
        for (var p = 0; p < 16; p++)
            for (var c = 0; c < 3; c++)
                Assert.Equal(pixels[2 * 48 + 3 * p + c] / 127.5f - 1f, chw[c * 16 + p]);
        Assert.Null(new NpzDataset(path, 4).Decode(2, chw));
    }

    [Fact]
    public void Labels_stored_as_int32_are_accepted()
    {
        using var temp = new TempFolder();
        var path = temp.File("data.npz");
        using (var writer = new NpzWriter(path))
        {
            writer.Write("arr_0", Pixels(2, 2), 2, 2, 2, 3);
            writer.Write("arr_1", new[] { 1, 0 }, 2);
        }
        Assert.Equal(1, new NpzDataset(path, 2, classConditional: true).Decode(0, new float[12]));
    }

    [Fact]
    public void Missing_arr_0_is_named()
    {
        using var temp = new TempFolder();
        var path = temp.File("data.npz");
        using (var writer = new NpzWriter(path)) writer.Write("images", Pixels(1, 2), 1, 2, 2, 3);
        var e = Assert.Throws<DataException>(() => new NpzDataset(path, 2));
        Assert.Equal($"{path} has no arr_0 (the images); it holds images", e.Message);
    }

    [Theory]
    [InlineData("f4", 2, 4, 4, 3, "<f4 with shape (2, 4, 4, 3)")]
    [InlineData("u1", 2, 4, 4, 1, "|u1 with shape (2, 4, 4, 1)")]
    [InlineData("u1", 2, 8, 8, 3, "|u1 with shape (2, 8, 8, 3)")]
    [InlineData("u1", 2, 4, 8, 3, "|u1 with shape (2, 4, 8, 3)")]
    [InlineData("u1", 2, 3, 4, 4, "|u1 with shape (2, 3, 4, 4)")]
    public void Wrong_dtype_or_shape_is_refused_with_what_was_found_and_expected(string dtype, int n, int h, int w, int c, string found)
    {
        using var temp = new TempFolder();
        var path = temp.File("data.npz");
        using (var writer = new NpzWriter(path))
        {
            if (dtype == "f4") writer.Write("arr_0", new float[n * h * w * c], n, h, w, c);
            else writer.Write("arr_0", new byte[n * h * w * c], n, h, w, c);
        }
        var e = Assert.Throws<DataException>(() => new NpzDataset(path, 4));
        Assert.Equal($"arr_0 in {path} is {found}; expected uint8 ('|u1') images (N, 4, 4, 3): NHWC RGB of the model's image size 4, C order",
            e.Message);
    }

    [Fact]
    public void Class_conditional_needs_one_label_per_image()
    {
        using var temp = new TempFolder();
        var unlabelled = temp.File("unlabelled.npz");
        Npz.SaveSamples(unlabelled, Pixels(2, 2), [2, 2, 2, 3]);
        var e = Assert.Throws<DataException>(() => new NpzDataset(unlabelled, 2, classConditional: true));
        Assert.Equal($"{unlabelled} has no arr_1 (labels), which class-conditional training needs; it holds arr_0", e.Message);

        var short_ = temp.File("short.npz");
        using (var writer = new NpzWriter(short_))
        {
            writer.Write("arr_0", Pixels(2, 2), 2, 2, 2, 3);
            writer.Write("arr_1", new long[] { 1 }, 1);
        }
        e = Assert.Throws<DataException>(() => new NpzDataset(short_, 2, classConditional: true));
        Assert.Equal($"arr_1 in {short_} has shape (1,); expected (2,): one label per image of arr_0", e.Message);

        var negative = temp.File("negative.npz");
        Npz.SaveSamples(negative, Pixels(2, 2), [2, 2, 2, 3], new long[] { 0, -1 });
        e = Assert.Throws<DataException>(() => new NpzDataset(negative, 2, classConditional: true));
        Assert.Equal($"arr_1 in {negative} has label -1 at index 1; labels are class indices from 0", e.Message);
    }

    [Fact]
    public void Not_a_zip_is_named()
    {
        using var temp = new TempFolder();
        var path = temp.File("data.npz");
        File.WriteAllText(path, "not a zip");
        var e = Assert.Throws<DataException>(() => new NpzDataset(path, 2));
        Assert.StartsWith($"{path} is not a NumPy .npz file (not a zip archive", e.Message);
    }
}
