using System.Text;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>
/// Reading PyTorch's legacy (pre-1.6) <c>torch.save</c> format. The fixture was written by Python's own pickle module
/// following torch's <c>_legacy_save</c> (tools/fixtures/make_legacy_checkpoints.py), so it is independent of our reader.
/// </summary>
public sealed class LegacyTorchFileTests(ITestOutputHelper output) : IDisposable
{
    readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("improved-ddpm-legacy-");

    public void Dispose() => folder.Delete(recursive: true);

    static string Fixture => RepositoryFixtures.PathOf("checkpoints", "legacy_state_dict.pth");

    /// <summary>Tensors shaped and typed as the fixture's, filled with a sentinel so "nothing loaded" can be seen.</summary>
    static Dictionary<string, Tensor> Targets() => new()
    {
        ["conv.weight"] = full(new long[] { 4, 3, 3, 3 }, 99f),
        ["conv.bias"] = full(new long[] { 4 }, 99f),
        ["fc.bias"] = full(new long[] { 2, 2 }, 99f),
        ["bn.running_var"] = full(new long[] { 2, 3 }, 99.0, ScalarType.Float64),
        ["bn.num_batches_tracked"] = full(Array.Empty<long>(), 99L, ScalarType.Int64),
        ["half.values"] = full(new long[] { 3 }, 99f, ScalarType.Float16),
        ["byte.values"] = full(new long[] { 3 }, (byte)99, ScalarType.Byte),
        ["expanded"] = full(new long[] { 2, 3 }, 99f),
    };

    [Theory]
    [InlineData("legacy_state_dict.pth")]           // pickle protocol 2, torch.save's default
    [InlineData("legacy_state_dict_protocol4.pth")] // torch.save(..., pickle_protocol=4): frames, memoize, stack globals
    public void Every_dtype_shared_storage_view_and_stride_reads_back_as_written(string file)
    {
        var targets = Targets();
        Checkpoint.LoadStateDict(targets, RepositoryFixtures.PathOf("checkpoints", file));

        Assert.Equal(Enumerable.Range(0, 108).Select(i => 0.25f * i - 3), targets["conv.weight"].data<float>().ToArray());
        Assert.Equal([2f, 3, 4, 5], targets["conv.bias"].data<float>().ToArray());           // elements 2–5 of a shared storage
        Assert.Equal([5f, 7, 6, 8], targets["fc.bias"].data<float>().ToArray());             // elements 5–8 of it, transposed
        Assert.Equal([1, 1 / 3.0, 1 / 5.0, 1 / 2.0, 1 / 4.0, 1 / 6.0], targets["bn.running_var"].data<double>().ToArray());
        Assert.Equal(123456789012L, targets["bn.num_batches_tracked"].item<long>());
        Assert.Equal([0.5f, -2, 1024], targets["half.values"].to_type(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal([(byte)0, 7, 255], targets["byte.values"].data<byte>().ToArray());
        Assert.Equal(Enumerable.Repeat(-1.5f, 6), targets["expanded"].data<float>().ToArray());
    }

    [Fact]
    public void A_file_cut_anywhere_is_refused_by_name_and_nothing_is_loaded()
    {
        var bytes = File.ReadAllBytes(Fixture);
        var path = Path.Combine(folder.FullName, "cut.pth");
        // Inside the header pickles, the object pickle, the key list, a storage's count and the last storage's bytes.
        foreach (var length in new[] { 20, 300, bytes.Length - 120, bytes.Length - 30, bytes.Length - 1 })
        {
            File.WriteAllBytes(path, bytes[..length]);
            var targets = Targets();
            var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(targets, path));
            output.WriteLine($"{length}: {error.Message}");
            Assert.Contains(path, error.Message);
            Assert.All(targets.Values, target => Assert.Equal(99.0, target.to_type(ScalarType.Float64).max().item<double>()));
        }
    }

    [Fact]
    public void A_file_that_names_anything_but_a_state_dict_is_refused_without_running_it()
    {
        // The same file with its OrderedDict replaced by os.system: the reader never imports or calls what a pickle names.
        var bytes = Replace(File.ReadAllBytes(Fixture), "ccollections\nOrderedDict\n", "cos\nsystem\n");
        var path = Path.Combine(folder.FullName, "not-a-state-dict.pth");
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(Targets(), path));
        output.WriteLine(error.Message);
        Assert.Contains(path, error.Message);
        Assert.Contains("os.system", error.Message);
    }

    [Fact]
    public void A_storage_whose_size_disagrees_with_its_tensors_is_refused()
    {
        // The last storage (one float, -1.5) is stored as count 1 then 4 bytes: claim 2 elements instead.
        var bytes = File.ReadAllBytes(Fixture);
        var countAt = bytes.Length - 4 - 8;
        Assert.Equal(1L, BitConverter.ToInt64(bytes, countAt));
        bytes[countAt] = 2;
        var path = Path.Combine(folder.FullName, "bad-count.pth");
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(Targets(), path));
        output.WriteLine(error.Message);
        Assert.Contains(path, error.Message);
        Assert.Contains("holds 2 elements", error.Message);
    }

    [Fact]
    public void A_pickle_that_is_not_a_torch_save_file_is_refused_by_name()
    {
        var path = Path.Combine(folder.FullName, "list.pkl");
        File.WriteAllBytes(path, [0x80, 0x02, (byte)']', (byte)'q', 0x00, (byte)'.']); // pickle.dumps([], protocol=2)

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(Targets(), path));
        output.WriteLine(error.Message);
        Assert.Contains(path, error.Message);
        Assert.Contains("magic number", error.Message);
    }

    static byte[] Replace(byte[] bytes, string find, string replacement)
    {
        var pattern = Encoding.ASCII.GetBytes(find);
        var at = bytes.AsSpan().IndexOf(pattern);
        Assert.True(at >= 0, $"'{find}' not in the fixture");
        return [.. bytes[..at], .. Encoding.ASCII.GetBytes(replacement), .. bytes[(at + pattern.Length)..]];
    }
}
