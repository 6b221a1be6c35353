using static ImprovedDdpm.Tests.Runtime.Data.ImageFiles;

namespace ImprovedDdpm.Tests.Runtime.Data;

/// <summary>Choosing the reader from the path, and the model's class count.</summary>
public sealed class ImageDatasetsTests
{
    [Fact]
    public void Picks_the_reader_from_what_is_at_the_path()
    {
        using var temp = new TempFolder();
        var npz = temp.File("samples.npz");
        Npz.SaveSamples(npz, new byte[2 * 4 * 4 * 3], [2, 4, 4, 3]);
        File.WriteAllBytes(temp.File("cifar/data_batch_1.bin"), new byte[Cifar10Dataset.RecordLength]);
        File.WriteAllBytes(temp.File("cifar/test_batch.bin"), new byte[2 * Cifar10Dataset.RecordLength]);
        SavePng(temp.File("images/a.png"), 4, 4, (_, _) => Grey(9));

        Assert.IsType<NpzDataset>(ImageDatasets.Open(npz, 4));
        Assert.Equal(1, Assert.IsType<Cifar10Dataset>(ImageDatasets.Open(temp.File("cifar"), 32)).Count);
        Assert.Equal(2, Assert.IsType<Cifar10Dataset>(ImageDatasets.Open(temp.File("cifar/test_batch.bin"), 32)).Count);
        Assert.IsType<ImageFolderDataset>(ImageDatasets.Open(temp.File("images"), 4));
    }

    [Fact]
    public void Refuses_a_missing_path_and_other_files()
    {
        using var temp = new TempFolder();
        var missing = temp.File("nothing-here");
        Assert.Equal($"data path {missing} does not exist", Assert.Throws<DataException>(() => ImageDatasets.Open(missing, 4)).Message);
        var text = temp.File("list.txt");
        File.WriteAllText(text, "");
        Assert.StartsWith($"{text} is a file but neither an .npz array file nor a CIFAR-10 .bin batch",
            Assert.Throws<DataException>(() => ImageDatasets.Open(text, 4)).Message);
        Assert.Equal("no data path was given", Assert.Throws<DataException>(() => ImageDatasets.Open("", 4)).Message);
    }

    [Fact]
    public void Refuses_more_classes_than_the_model_has()
    {
        using var temp = new TempFolder();
        foreach (var name in new[] { "ant", "bee", "cat", "dog", "eel", "fox", "gnu" })
            SavePng(temp.File($"{name}_0.png"), 2, 2, (_, _) => Grey(0));

        Assert.Equal(7, ImageDatasets.Open(temp.Path, 2, classConditional: true, numClasses: 7).NumClasses);
        Assert.Equal(7, ImageDatasets.Open(temp.Path, 2, classConditional: true, numClasses: 1000).NumClasses);
        Assert.Null(ImageDatasets.Open(temp.Path, 2, numClasses: 3).NumClasses); // not class-conditional: no check
        var e = Assert.Throws<DataException>(() => ImageDatasets.Open(temp.Path, 2, classConditional: true, numClasses: 5));
        Assert.Equal($"{temp.Path} has 7 classes (ant, bee, cat, dog, eel, …) but the model has NumClasses = 5; " +
            "labels 5 and above would fall outside its class embedding", e.Message);

        var npz = temp.File("labels.npz");
        Npz.SaveSamples(npz, new byte[2 * 2 * 2 * 3], [2, 2, 2, 3], new long[] { 0, 12 });
        e = Assert.Throws<DataException>(() => ImageDatasets.Open(npz, 2, classConditional: true, numClasses: 10));
        Assert.StartsWith($"{npz} has 13 classes (0, 1, 2, 3, 4, …) but the model has NumClasses = 10", e.Message);
    }

    [Fact]
    public void Decoding_a_batch_keeps_the_given_order_and_labels()
    {
        using var temp = new TempFolder();
        SavePng(temp.File("images/cat_1.png"), 4, 4, (_, _) => Grey(255));
        SavePng(temp.File("images/dog_1.png"), 4, 4, (_, _) => Grey(0));
        var dataset = ImageDatasets.Open(temp.File("images"), 4, classConditional: true);
        using var batch = dataset.DecodeBatch([1, 0, 1]);
        Assert.Equal([3L, 3, 4, 4], batch.Images.shape);
        Assert.Equal([-1f, 1f, -1f], [batch.Images[0].max().item<float>(), batch.Images[1].min().item<float>(), batch.Images[2].max().item<float>()]);
        Assert.Equal([1L, 0, 1], batch.Labels!.data<long>().ToArray());
    }
}
