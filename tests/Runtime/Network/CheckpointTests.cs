using System.IO.Compression;
using ImprovedDdpm.Tests.Support;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>Checkpoint loading is strict and explains itself; saving writes files that load back identically.</summary>
public sealed class CheckpointTests(ITestOutputHelper output) : IDisposable
{
    readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("improved-ddpm-checkpoints-");

    public void Dispose() => folder.Delete(recursive: true);

    [Fact]
    public void A_missing_key_is_refused_by_name_and_nothing_is_loaded()
    {
        var path = ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors");
        using var network = Generator.TinyCond.CreateNetwork();
        var before = Tolerance.ToDoubles(network.time_embed.parameters().First());

        var error = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);

        Assert.Equal("label_emb.weight", error.Key);
        Assert.Equal(path, error.Path);
        Assert.Contains(path, error.Message);
        Assert.Contains("missing key 'label_emb.weight'", error.Message);
        Assert.Equal(before, Tolerance.ToDoubles(network.time_embed.parameters().First()));
    }

    [Fact]
    public void An_unexpected_key_is_refused_by_name()
    {
        var path = ReferenceFixtures.PathOf("tiny_unet_cond.pt");
        using var network = Generator.TinySigma.CreateNetwork();

        var error = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);

        Assert.Equal("label_emb.weight", error.Key);
        Assert.Contains(path, error.Message);
        Assert.Contains("unexpected key 'label_emb.weight'", error.Message);
    }

    [Fact]
    public void A_wrong_shape_is_refused_with_both_shapes()
    {
        var path = ReferenceFixtures.PathOf("tiny_unet_fixed.safetensors");
        using var network = Generator.TinySigma.CreateNetwork();

        var error = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);

        Assert.Equal("out.2.weight", error.Key);
        Assert.Contains(path, error.Message);
        Assert.Contains("'out.2.weight' has shape [3, 32, 3, 3] in the checkpoint, the network's is [6, 32, 3, 3]", error.Message);
    }

    [Theory]
    [InlineData("tiny_unet_sigma.safetensors")]
    [InlineData("tiny_unet_sigma.pt")]
    public void A_truncated_file_is_refused_by_name(string fixture)
    {
        var bytes = File.ReadAllBytes(ReferenceFixtures.PathOf(fixture));
        var path = Path.Combine(folder.FullName, fixture);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        using var network = Generator.TinySigma.CreateNetwork();

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);

        Assert.Contains(path, error.Message);
        Assert.Contains("truncated", error.Message);
    }

    [Theory]
    [InlineData("notes.pt")]
    [InlineData("notes.safetensors")]
    public void A_file_that_is_no_checkpoint_is_refused_by_name(string name)
    {
        var path = Path.Combine(folder.FullName, name);
        File.WriteAllText(path, "these are not the weights you are looking for");
        using var network = Generator.TinySigma.CreateNetwork();

        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void A_missing_file_is_refused_by_name()
    {
        var path = Path.Combine(folder.FullName, "absent.pt");
        using var network = Generator.TinySigma.CreateNetwork();

        var error = Assert.Throws<FileNotFoundException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);

        Assert.Contains(path, error.Message);
    }

    [Theory]
    [InlineData("model000100.pt")]
    [InlineData("model000100.safetensors")]
    public void A_saved_checkpoint_loads_into_a_fresh_network_with_identical_outputs(string name)
    {
        var inputs = ReferenceFixtures.Tensors("unet_forward.safetensors");
        var path = Path.Combine(folder.FullName, name);
        using var scope = NewDisposeScope();
        using var original = (Generator.TinySigma.Network)TinyFixtureNetworks.Load("tiny_unet_sigma");
        File.WriteAllText(path, "an older file that the save replaces");

        Checkpoint.SaveStateDict(original, path);
        using var restored = Generator.TinySigma.CreateNetwork();
        Checkpoint.LoadStateDict(restored, path);
        restored.eval();

        Assert.Equal([name], folder.GetFiles().Select(f => f.Name));
        using var _ = no_grad();
        var x = inputs["x"].ToTorch();
        var t = inputs["timesteps"].ToTorch();
        Assert.True(TensorEquality.Identical(original.forward(x, t), restored.forward(x, t)));
    }

    [Fact]
    public void A_saved_pt_is_a_torch_zip_whose_pickle_holds_the_state_dict()
    {
        // No Python with torch here to run torch.load; check the layout torch.load reads and read it back independently.
        var path = Path.Combine(folder.FullName, "ema_0.9999_000100.pt");
        using var scope = NewDisposeScope();
        using var network = (Generator.TinyCond.Network)TinyFixtureNetworks.Load("tiny_unet_cond");

        Checkpoint.SaveStateDict(network, path);

        using (var zip = ZipFile.OpenRead(path))
        {
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("/version", StringComparison.Ordinal));
        }
        var expected = network.state_dict();
        var readBack = PyTorchUnpickler.UnpickleStateDict(path);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), readBack.Keys.Cast<string>().Order(StringComparer.Ordinal));
        foreach (var (key, tensor) in expected)
        {
            var value = Assert.IsAssignableFrom<Tensor>(readBack[key]);
            Assert.False(value.requires_grad, key);
            Assert.True(TensorEquality.Identical(value, tensor), key);
            value.Dispose();
        }
    }

    [Fact]
    public void A_saved_safetensors_file_reads_back_with_an_independent_reader()
    {
        var path = Path.Combine(folder.FullName, "model.safetensors");
        using var scope = NewDisposeScope();
        using var network = (Generator.TinySigma.Network)TinyFixtureNetworks.Load("tiny_unet_sigma");

        Checkpoint.SaveStateDict(network, path);

        var readBack = SafetensorsReader.Read(path);
        var expected = network.state_dict();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), readBack.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, tensor) in expected)
        {
            Assert.Equal("F32", readBack[key].DType);
            Assert.Equal(tensor.shape, readBack[key].Shape);
            Assert.Equal(Tolerance.ToDoubles(tensor), readBack[key].Values);
        }
    }
}
