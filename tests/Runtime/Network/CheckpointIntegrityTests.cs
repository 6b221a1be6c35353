using ImprovedDdpm.Tests.Runtime.Training;
using ImprovedDdpm.Tests.Support;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>A checkpoint with one flipped bit is refused by name (file and zip entry), never loaded as other weights.</summary>
public sealed class CheckpointIntegrityTests(ITestOutputHelper output) : IDisposable
{
    readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("improved-ddpm-integrity-");

    public void Dispose() => folder.Delete(recursive: true);

    [Fact]
    public void A_flipped_bit_in_a_saved_model_file_is_refused_naming_the_file_and_the_entry()
    {
        using var saved = TrainingFixtures.ToyNet();
        using (no_grad()) foreach (var parameter in saved.parameters()) parameter.uniform_(-1, 1);
        var path = Path.Combine(folder.FullName, "model000002.pt");
        Checkpoint.SaveStateDict(saved, path);
        var entry = ZipDamage.FlipByteInEntry(path, "data/0");

        // Without the CRC check this file reads as a state dict whose first tensor is slightly off.
        using (var stream = File.OpenRead(path)) Assert.NotEmpty(PyTorchUnpickler.UnpickleStateDict(stream));

        using var network = TrainingFixtures.ToyNet();
        var before = TrainingFixtures.Flatten(network.parameters());
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);
        Assert.Contains(path, error.Message);
        Assert.Contains($"'{entry}'", error.Message);
        Assert.Contains("CRC-32", error.Message);
        Assert.Equal(before, TrainingFixtures.Flatten(network.parameters()));
    }

    [Fact]
    public void A_reference_checkpoint_with_a_flipped_bit_is_refused_and_the_intact_one_loads()
    {
        var path = Path.Combine(folder.FullName, "tiny_unet_sigma.pt");
        File.Copy(ReferenceFixtures.PathOf("tiny_unet_sigma.pt"), path);
        using var network = Generator.TinySigma.CreateNetwork();
        Checkpoint.LoadStateDict(network, path); // PyTorch's own zip writer records CRCs that check

        var entry = ZipDamage.FlipByteInEntry(path, "data/3");
        var error = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadStateDict(network, path));
        output.WriteLine(error.Message);
        Assert.Contains(path, error.Message);
        Assert.Contains($"'{entry}'", error.Message);
    }

    [Fact]
    public void A_flipped_bit_in_an_optimizer_file_is_refused_naming_the_file_and_the_entry()
    {
        using var network = TrainingFixtures.ToyNet();
        using var optimizer = new AdamWOptimizer(network.parameters(), lr: 1e-3);
        using (var scope = NewDisposeScope())
        {
            network.forward(ones(2, 3, 8, 8), tensor(new long[] { 1, 2 })).square().sum().backward();
            optimizer.Step();
        }
        var path = Path.Combine(folder.FullName, "opt000001.pt");
        OptimizerCheckpoint.Save(optimizer, path);
        var entry = ZipDamage.FlipByteInEntry(path, "data/1");

        using var restored = new AdamWOptimizer(network.parameters(), lr: 1e-3);
        var error = Assert.Throws<InvalidDataException>(() => OptimizerCheckpoint.Load(restored, path));
        output.WriteLine(error.Message);
        Assert.Contains(path, error.Message);
        Assert.Contains($"'{entry}'", error.Message);
    }
}
