using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ImprovedDdpm.Tests.Runtime.Data;

/// <summary>The three data sources, the reference's resize, labels from file names, and bad data named.</summary>
public sealed class ImageDatasetTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-data-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    string SaveImage(string name, int width, int height, Func<int, int, Rgb24> color)
    {
        var path = Path.Combine(folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++) image[x, y] = color(x, y);
        }
        image.SaveAsPng(path);
        return path;
    }

    [Fact]
    public void A_folder_is_read_recursively_in_order_with_labels_from_the_name_prefix()
    {
        SaveImage("b/dog_2.png", 8, 8, (_, _) => new Rgb24(0, 0, 0));
        SaveImage("a/cat_1.png", 8, 8, (_, _) => new Rgb24(255, 255, 255));
        SaveImage("a/dog_1.png", 8, 8, (_, _) => new Rgb24(255, 0, 0));
        var data = ImageDataset.Open(folder, 8, withLabels: true);
        Assert.Equal(3, data.Count);
        Assert.Equal(["cat", "dog"], data.ClassNames!);
        Assert.Equal([0L, 1, 1], data.Labels!);
        using var batch = data.Batch([0, 1, 2]);
        Assert.Equal([3L, 3, 8, 8], batch.Images.shape);
        Assert.Equal(1f, batch.Images[0].min().item<float>());
        Assert.Equal(-1f, batch.Images[2].max().item<float>());
        Assert.Equal([1f, -1f, -1f], [batch.Images[1, 0, 0, 0].item<float>(), batch.Images[1, 1, 0, 0].item<float>(), batch.Images[1, 2, 0, 0].item<float>()]);
    }

    [Fact]
    public void Large_images_are_box_halved_then_resized_and_centre_cropped()
    {
        // 40x20 with a 2-pixel-wide column pattern: halved once (to 20x10, short side 10 < 2*8), then bicubic to 16x8,
        // then the centre 8 columns. A constant image stays exactly constant through all of it.
        var path = SaveImage("wide.png", 40, 20, (_, _) => new Rgb24(10, 20, 30));
        var pixels = ImageDataset.LoadImage(path, 8);
        Assert.Equal(8 * 8 * 3, pixels.Length);
        Assert.All(pixels.Chunk(3), p => Assert.Equal([10, 20, 30], p));

        // The crop is the centre: a 16x8 image whose left and right quarters differ from its middle keeps only the middle.
        var centred = SaveImage("centred.png", 16, 8, (x, _) => x is >= 4 and < 12 ? new Rgb24(200, 200, 200) : new Rgb24(0, 0, 0));
        Assert.All(ImageDataset.LoadImage(centred, 8), value => Assert.Equal(200, value));
    }

    [Fact]
    public void Cifar_binary_batches_are_planes_of_rgb()
    {
        var record = new byte[1 + 3072];
        record[0] = 7;
        record[1] = 11;            // R of pixel 0
        record[1 + 1024] = 22;     // G of pixel 0
        record[1 + 2048] = 33;     // B of pixel 0
        File.WriteAllBytes(Path.Combine(folder, "data_batch_1.bin"), [.. record, .. record]);
        var data = ImageDataset.Open(folder, 32, withLabels: true);
        Assert.Equal(2, data.Count);
        Assert.Equal([7L, 7], data.Labels!);
        using var batch = data.Batch([1]);
        Assert.Equal(11 / 127.5 - 1, batch.Images[0, 0, 0, 0].item<float>(), 1e-6);
        Assert.Equal(33 / 127.5 - 1, batch.Images[0, 2, 0, 0].item<float>(), 1e-6);
    }

    [Fact]
    public void Bad_data_is_named()
    {
        var missing = Path.Combine(folder, "nope");
        Assert.Contains(missing, Assert.Throws<DataException>(() => ImageDataset.Open(missing, 8, false)).Message, StringComparison.Ordinal);

        var empty = Directory.CreateDirectory(Path.Combine(folder, "empty")).FullName;
        Assert.Contains("holds no .jpg", Assert.Throws<DataException>(() => ImageDataset.Open(empty, 8, false)).Message, StringComparison.Ordinal);

        var corrupt = Path.Combine(folder, "bad", "broken.png");
        Directory.CreateDirectory(Path.GetDirectoryName(corrupt)!);
        File.WriteAllText(corrupt, "not a png");
        var data = ImageDataset.Open(Path.GetDirectoryName(corrupt)!, 8, false);
        Assert.Contains(corrupt, Assert.Throws<DataException>(() => data.Batch([0])).Message, StringComparison.Ordinal);

        var npz = Path.Combine(folder, "gray.npz");
        Npz.Write(npz, [("arr_0", NpyArray.FromBytes(new byte[2 * 8 * 8], 2, 8, 8, 1))]);
        var shape = Assert.Throws<DataException>(() => ImageDataset.Open(npz, 8, false)).Message;
        Assert.Contains("[2, 8, 8, 1]", shape, StringComparison.Ordinal);
        Assert.Contains("[N, 8, 8, 3] uint8", shape, StringComparison.Ordinal);

        File.WriteAllBytes(Path.Combine(Directory.CreateDirectory(Path.Combine(folder, "cifar")).FullName, "data_batch_1.bin"), new byte[100]);
        Assert.Contains("not a CIFAR-10 binary batch", Assert.Throws<DataException>(() => ImageDataset.Open(Path.Combine(folder, "cifar"), 32, false)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Labels_outside_the_models_classes_are_named()
    {
        var npz = Path.Combine(folder, "labelled.npz");
        Npz.Write(npz, [("arr_0", NpyArray.FromBytes(new byte[2 * 8 * 8 * 3], 2, 8, 8, 3)), ("arr_1", NpyArray.FromInt64([3, 12]))]);
        var data = ImageDataset.Open(npz, 8, withLabels: true);
        var error = Assert.Throws<DataException>(() => data.CheckLabels(10, npz));
        Assert.Contains("image 1 has label 12, outside the model's 10 classes", error.Message, StringComparison.Ordinal);
    }
}
