using ImprovedDdpm.Tests.Generator;
using static ImprovedDdpm.Tests.Runtime.Training.TrainingFixtures;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Training;

/// <summary>The moving average is the reference's update_ema, saved under the network's keys.</summary>
public sealed class ExponentialMovingAverageTests : IDisposable
{
    readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("improved-ddpm-ema-");

    public void Dispose() => folder.Delete(recursive: true);

    [Fact]
    public void Each_update_is_rate_times_the_average_plus_one_minus_rate_times_the_parameter()
    {
        using var module = nn.Linear(3, 2);
        using var average = new ExponentialMovingAverage(module, 0.9);
        var start = Flatten(module.parameters());
        Assert.Equal(start, Flatten(average.Parameters.Select(p => p.Value)));

        var expected = start;
        for (var update = 1; update <= 3; update++)
        {
            using (no_grad())
            {
                foreach (var parameter in module.parameters()) parameter.add_(update);
            }
            var current = Flatten(module.parameters());
            expected = expected.Zip(current, (e, p) => 0.9 * e + 0.1 * p).ToArray();
            average.Update();
            // No bias correction, no warm-up: exactly the formula, up to float32 rounding.
            Assert.True(MaxAbsDifference(expected, Flatten(average.Parameters.Select(p => p.Value))) < 1e-5);
        }
    }

    [Fact]
    public void Rate_one_keeps_the_start_and_rate_zero_follows_the_parameters()
    {
        using var module = nn.Linear(2, 2);
        using var frozen = new ExponentialMovingAverage(module, 1.0);
        using var following = new ExponentialMovingAverage(module, 0.0);
        var start = Flatten(module.parameters());
        using (no_grad())
        {
            foreach (var parameter in module.parameters()) parameter.mul_(3);
        }
        frozen.Update();
        following.Update();
        Assert.Equal(start, Flatten(frozen.Parameters.Select(p => p.Value)));
        Assert.Equal(Flatten(module.parameters()), Flatten(following.Parameters.Select(p => p.Value)));
    }

    [Fact]
    public void The_saved_average_has_the_network_keys_and_loads_back()
    {
        using var network = TinySigma.CreateNetwork();
        using var average = new ExponentialMovingAverage(network, 0.99);
        using (no_grad())
        {
            foreach (var parameter in network.parameters()) parameter.add_(1);
        }
        average.Update();
        var path = Path.Combine(folder.FullName, ExponentialMovingAverage.FileName(0.99, 12));
        average.Save(path);
        Assert.Equal("ema_0.99_000012.pt", Path.GetFileName(path));

        // The file is an ordinary state dict of the network: it loads as its weights.
        using var loaded = TinySigma.CreateNetwork();
        Checkpoint.LoadStateDict(loaded, path);
        Assert.Equal(Flatten(average.Parameters.Select(p => p.Value)), Flatten(loaded.parameters()));
        Assert.Equal(network.state_dict().Keys, average.StateDict().Keys);

        using var restored = new ExponentialMovingAverage(network, 0.99);
        restored.Load(path);
        Assert.Equal(Flatten(average.Parameters.Select(p => p.Value)), Flatten(restored.Parameters.Select(p => p.Value)));
    }

    [Theory]
    [InlineData(0.9999, 0, "ema_0.9999_000000.pt")]
    [InlineData(0.99, 123456, "ema_0.99_123456.pt")]
    [InlineData(1.0, 7, "ema_1.0_000007.pt")]
    [InlineData(0.5, 1234567, "ema_0.5_1234567.pt")]
    public void File_names_print_the_rate_as_python_does(double rate, long step, string name) =>
        Assert.Equal(name, ExponentialMovingAverage.FileName(rate, step));
}
