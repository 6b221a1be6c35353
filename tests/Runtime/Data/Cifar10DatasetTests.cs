namespace ImprovedDdpm.Tests.Runtime.Data;

public sealed class Cifar10DatasetTests
{
    /// <summary>Record r: label (3r mod 10), then R, G, B planes with pixel i = (r + i), (r + 2i), (r + 3i) mod 256.</summary>
    static byte[] Records(int count, int first = 0)
    {
        var bytes = new byte[count * Cifar10Dataset.RecordLength];
        for (var n = 0; n < count; n++)
        {
            var r = first + n;
            var record = bytes.AsSpan(n * Cifar10Dataset.RecordLength);
            record[0] = (byte)(3 * r % 10);
            for (var i = 0; i < 1024; i++)
            {
                record[1 + i] = (byte)(r + i);
                record[1 + 1024 + i] = (byte)(r + 2 * i);
                record[1 + 2048 + i] = (byte)(r + 3 * i);
            }
        }
        return bytes;
    }

    [Fact]
    public void Reads_records_as_planar_rgb_with_labels()
    {
        using var temp = new TempFolder();
        var file = temp.File("test_batch.bin");
        File.WriteAllBytes(file, Records(3));

        var dataset = new Cifar10Dataset(file, classConditional: true);
        Assert.Equal(3, dataset.Count);
        Assert.Equal(Cifar10Dataset.Classes, dataset.ClassNames);
        var chw = new float[3 * 32 * 32];
        Assert.Equal(6, dataset.Decode(2, chw));
        for (var i = 0; i < 1024; i += 97)
        {
            Assert.Equal((byte)(2 + i) / 127.5f - 1f, chw[i]);
            Assert.Equal((byte)(2 + 2 * i) / 127.5f - 1f, chw[1024 + i]);
            Assert.Equal((byte)(2 + 3 * i) / 127.5f - 1f, chw[2048 + i]);
        }
        Assert.Null(new Cifar10Dataset(file).Decode(2, chw));
        Assert.Equal(3, new Cifar10Dataset(file).Label(1));
    }

    [Fact]
    public void A_folder_means_the_training_batches_in_number_order()
    {
        using var temp = new TempFolder();
        File.WriteAllBytes(temp.File("data_batch_2.bin"), Records(1, first: 5));
        File.WriteAllBytes(temp.File("data_batch_1.bin"), Records(2));
        File.WriteAllBytes(temp.File("test_batch.bin"), Records(4));
        File.WriteAllText(temp.File("batches.meta.txt"), "airplane\n");

        var dataset = new Cifar10Dataset(temp.Path, classConditional: true);
        Assert.Equal(["data_batch_1.bin", "data_batch_2.bin"], dataset.Files.Select(Path.GetFileName));
        Assert.Equal(3, dataset.Count);
        Assert.Equal(5, dataset.Decode(2, new float[3072])); // record 5 of the synthetic set: 15 mod 10
    }

    [Fact]
    public void Other_image_sizes_go_through_the_reference_resize()
    {
        using var temp = new TempFolder();
        var record = new byte[Cifar10Dataset.RecordLength];
        record.AsSpan(1, 1024).Fill(10);
        record.AsSpan(1025, 1024).Fill(20);
        record.AsSpan(2049, 1024).Fill(30);
        var file = temp.File("one.bin");
        File.WriteAllBytes(file, record);
        var chw = new float[3 * 16 * 16];
        new Cifar10Dataset(file, imageSize: 16).Decode(0, chw);
        Assert.Equal(Enumerable.Repeat(10 / 127.5f - 1f, 256), chw[..256]);
        Assert.Equal(Enumerable.Repeat(30 / 127.5f - 1f, 256), chw[512..]);
    }

    [Fact]
    public void A_file_of_the_wrong_length_is_named_with_its_length()
    {
        using var temp = new TempFolder();
        var file = temp.File("data_batch_1.bin");
        File.WriteAllBytes(file, new byte[3072]);
        var e = Assert.Throws<DataException>(() => new Cifar10Dataset(temp.Path));
        Assert.Equal(file, e.Path);
        Assert.StartsWith($"{file} is 3072 bytes, not a whole number of CIFAR-10 records of 3073 bytes", e.Message);
    }

    [Fact]
    public void A_label_above_nine_is_refused()
    {
        using var temp = new TempFolder();
        var bytes = Records(2);
        bytes[Cifar10Dataset.RecordLength] = 57;
        var file = temp.File("x.bin");
        File.WriteAllBytes(file, bytes);
        var e = Assert.Throws<DataException>(() => new Cifar10Dataset(file));
        Assert.Equal($"record 1 of {file} has label 57; CIFAR-10 labels are 0 to 9 (is this CIFAR-100?)", e.Message);
    }
}
