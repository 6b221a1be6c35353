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

        var dataset = new ImageFolderDataset(temp.Path, 8);
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
    public void A_corrupt_image_is_named_when_decoded()
    {
        using var temp = new TempFolder();
        SavePng(temp.File("a_good.png"), 2, 2, (_, _) => new Rgba32(1, 2, 3));
        var broken = temp.File("b_broken.jpg");
        File.WriteAllText(broken, "this is not a JPEG");
        var dataset = new ImageFolderDataset(temp.Path, 2);
        dataset.Decode(0, new float[12]);
        var e = Assert.Throws<DataException>(() => dataset.Decode(1, new float[12]));
        Assert.StartsWith($"cannot read image {broken}: ", e.Message);
    }
}
