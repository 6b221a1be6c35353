using SixLabors.ImageSharp.PixelFormats;
using static ImprovedDdpm.Tests.Runtime.Data.ImageFiles;

namespace ImprovedDdpm.Tests.Runtime.Data;

public sealed class ImageFolderDatasetTests
{
    [Fact]
    public void Lists_images_as_the_reference_does()
    {
        using var temp = new TempFolder();
        // Each folder's entries in code-point order, folders searched where they sort: "a" (a folder) before "a.png".
        // A sort of whole paths would put "a.png" first, since '.' < '/'.
        string[] images = ["Z.png", "a/x.png", "a.png", "b.PNG", "c.JpEg", "d.gif", "sub/deeper/f.jpg"];
        foreach (var name in images.Concat(["notes.txt", "e", "png"]))
            File.WriteAllBytes(temp.File(name), []);
        Directory.CreateDirectory(temp.File("empty/x"));

        // The files are empty: list them without the header check.
        var dataset = new ImageFolderDataset(temp.Path, 8, checkHeaders: false);
        Assert.Equal(images.Select(name => Path.Combine(temp.Path, name)), dataset.Files);
        Assert.Null(dataset.ClassNames);
        Assert.Null(dataset.Labels);
        Assert.Equal(7, dataset.Count);
    }

    [Fact]
    public void Class_labels_come_from_the_file_name_before_the_first_underscore()
    {
        using var temp = new TempFolder();
        foreach (var name in new[] { "cat_1.png", "dog_2_b.png", "sub/cat_3.png", "bird.png" })
            SavePng(temp.File(name), 2, 2, (x, y) => Grey((byte)(40 * x + 80 * y)));

        var dataset = new ImageFolderDataset(temp.Path, 2, classConditional: true);
        // No underscore: the whole name is the class, extension included, as in the reference.
        Assert.Equal(["bird.png", "cat", "dog"], dataset.ClassNames);
        Assert.Equal(3, ((IImageDataset)dataset).NumClasses);
        Assert.Equal(["bird.png", "cat_1.png", "dog_2_b.png", "sub/cat_3.png"],
            dataset.Files.Select(f => Path.GetRelativePath(temp.Path, f).Replace('\\', '/')));
        Assert.Equal([0, 1, 2, 1], dataset.Labels);

        var chw = new float[((IImageDataset)dataset).ItemLength];
        Assert.Equal(2, dataset.Decode(2, chw));
        Assert.Equal([0, 40], Row(Bytes(chw, 2), 1, 0));
        Assert.Equal([80, 120], Row(Bytes(chw, 2), 2, 1));
        Assert.Null(new ImageFolderDataset(temp.Path, 2).Decode(2, chw));
    }

    [Fact]
    public void A_missing_folder_is_named()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"no-such-folder-{Guid.NewGuid():N}");
        var e = Assert.Throws<DataException>(() => new ImageFolderDataset(missing, 8));
        Assert.Equal($"image folder {missing} does not exist", e.Message);
        Assert.Equal(missing, e.Path);
    }

    [Fact]
    public void A_folder_without_images_is_named()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("sub/readme.txt"), "no images here");
        var e = Assert.Throws<DataException>(() => new ImageFolderDataset(temp.Path, 8));
        Assert.Equal($"{temp.Path} holds no images: no .jpg, .jpeg, .png or .gif file in it or any folder below it", e.Message);
    }

    [Fact]
    public void Files_that_are_not_images_are_listed_with_the_reason_when_the_folder_is_opened()
    {
        using var temp = new TempFolder();
        var good = File.ReadAllBytes(SavePng(temp.File("a_good.png"), 4, 4, (x, y) => Grey((byte)(x + y))));
        SavePng(temp.File("sub/b_good.png"), 4, 4, (_, _) => Grey(7));
        File.WriteAllBytes(temp.File("c_empty.png"), []);
        File.WriteAllText(temp.File("d_text.jpg"), "this is not a JPEG");
        File.WriteAllBytes(temp.File("sub/e_cut.png"), good[..20]); // the signature and half of IHDR
        File.WriteAllBytes(temp.File("f_signature.png"), good[..5]);

        var e = Assert.Throws<DataException>(() => new ImageFolderDataset(temp.Path, 4));
        Assert.Equal(temp.Path, e.Path);
        var lines = e.Message.Split(Environment.NewLine);
        Assert.Equal($"{temp.Path}: 4 files of 6 cannot be used as images (fix or remove them):", lines[0]);
        Assert.Equal("  c_empty.png: empty file", lines[1]);
        Assert.Equal("  d_text.jpg: not an image (unrecognised header)", lines[2]);
        Assert.Equal("  f_signature.png: truncated header", lines[3]);
        Assert.StartsWith($"  {Path.Combine("sub", "e_cut.png")}: truncated or unreadable header (", lines[4], StringComparison.Ordinal);
        Assert.Equal(5, lines.Length);
        Assert.DoesNotContain("Available decoders", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_list_of_bad_files_is_cut_with_the_count_of_the_rest()
    {
        using var temp = new TempFolder();
        for (var i = 0; i < 25; i++) File.WriteAllBytes(temp.File($"x{i:D2}.png"), []);
        var lines = Assert.Throws<DataException>(() => new ImageFolderDataset(temp.Path, 4)).Message.Split(Environment.NewLine);
        Assert.Equal($"{temp.Path}: 25 files of 25 cannot be used as images (fix or remove them):", lines[0]);
        Assert.Equal("  x19.png: empty file", lines[20]);
        Assert.Equal("  … and 5 more", lines[21]);
        Assert.Equal(22, lines.Length);
    }

    [Fact]
    public void An_image_whose_header_is_whole_but_whose_pixels_are_cut_is_named_when_decoded()
    {
        using var temp = new TempFolder();
        SavePng(temp.File("a_good.png"), 2, 2, (_, _) => new Rgba32(1, 2, 3));
        var whole = File.ReadAllBytes(SavePng(temp.File("b_cut.png"), 2, 2, (_, _) => new Rgba32(4, 5, 6)));
        var cut = temp.File("b_cut.png");
        File.WriteAllBytes(cut, whole[..33]); // the signature and IHDR: the header check passes, the pixels are gone
        var dataset = new ImageFolderDataset(temp.Path, 2);
        dataset.Decode(0, new float[12]);
        var e = Assert.Throws<DataException>(() => dataset.Decode(1, new float[12]));
        Assert.Equal(cut, e.Path);
        Assert.StartsWith($"cannot read image {cut}: its image data is damaged or truncated (", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_an_image_says_so_when_decoded()
    {
        using var temp = new TempFolder();
        var broken = temp.File("b_broken.jpg");
        File.WriteAllText(broken, "this is not a JPEG");
        var empty = temp.File("c_empty.png");
        File.WriteAllBytes(empty, []);
        var dataset = new ImageFolderDataset(temp.Path, 2, checkHeaders: false);
        var e = Assert.Throws<DataException>(() => dataset.Decode(0, new float[12]));
        Assert.Equal($"cannot read image {broken}: not an image (unrecognised header)", e.Message);
        e = Assert.Throws<DataException>(() => dataset.Decode(1, new float[12]));
        Assert.Equal($"cannot read image {empty}: empty file", e.Message);
    }
}
