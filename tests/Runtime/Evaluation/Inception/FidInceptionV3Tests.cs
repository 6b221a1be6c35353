using System.Text.Json;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Evaluation.Inception;

/// <summary>
/// pytorch-fid's Inception-v3: the layout of <c>pt_inception-2015-12-05-6726825d.pth</c>, the input transform, and a
/// forward pass whose features survive a checkpoint round trip. The real weights are the user's; none are needed here.
/// </summary>
public sealed class FidInceptionV3Tests(ITestOutputHelper output) : IDisposable
{
    /// <summary>The sum over the fixture's shapes of everything but the batch-norm running statistics and counters
    /// (also torchvision's 27,161,264 for <c>inception_v3()</c> minus the aux classifier's 3,326,696 and plus the 8
    /// extra classes' 8·2048 + 8 in <c>fc</c>).</summary>
    const long ParameterCount = 23_850_960;

    readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("improved-ddpm-inception-");

    public void Dispose() => folder.Delete(recursive: true);

    [Fact]
    public void The_state_dict_has_the_keys_shapes_and_order_of_the_pytorch_fid_weight_file()
    {
        var expected = Layout();
        using var network = new FidInceptionV3();
        var actual = network.state_dict().Select(entry => (entry.Key, Shape: entry.Value.shape)).ToList();

        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Key, actual[i].Key);
            Assert.True(expected[i].Shape.SequenceEqual(actual[i].Shape),
                $"{expected[i].Key}: fixture [{string.Join(", ", expected[i].Shape)}], network [{string.Join(", ", actual[i].Shape)}]");
        }

        static bool IsStatistic(string key) => key.EndsWith(".running_mean", StringComparison.Ordinal)
            || key.EndsWith(".running_var", StringComparison.Ordinal) || key.EndsWith(".num_batches_tracked", StringComparison.Ordinal);
        var fixtureCount = expected.Where(entry => !IsStatistic(entry.Key)).Sum(entry => entry.Shape.Aggregate(1L, (a, b) => a * b));
        Assert.Equal(ParameterCount, fixtureCount);
        Assert.Equal(ParameterCount, network.parameters().Sum(parameter => parameter.numel()));
        Assert.Equal(94, expected.Count(entry => entry.Key.EndsWith(".bn.num_batches_tracked", StringComparison.Ordinal)));
        output.WriteLine($"{expected.Count} keys, {ParameterCount} parameters");
    }

    [Fact]
    public void A_file_in_the_published_weights_legacy_torch_save_format_loads_key_for_key()
    {
        // pt_inception-2015-12-05-6726825d.pth is distributed in torch.save's pre-1.6 format. The fixture has every key
        // and shape of it in that format (tools/fixtures/make_legacy_checkpoints.py), each tensor filled with its index.
        var layout = Layout();
        using var network = FidInceptionV3.Load(RepositoryFixtures.PathOf("inception", "pt_inception_legacy_layout.pth"));
        var state = network.state_dict();
        for (var index = 0; index < layout.Count; index++)
        {
            var tensor = state[layout[index].Key];
            using var expected = full_like(tensor, index);
            Assert.True(Network.TensorEquality.Identical(tensor, expected), $"{layout[index].Key} is not filled with {index}");
        }
    }

    [Fact]
    public void Preprocessing_resizes_bilinearly_without_corner_alignment_and_maps_to_minus_one_one()
    {
        // A 1×3×2×3 image: PyTorch's bilinear rule (align_corners=False) computed by hand, independently of libtorch.
        float[] pixels = [0f, 0.25f, 1f, 0.5f, 0.75f, 0.125f];
        using var image = tensor(pixels, [1, 1, 2, 3]).expand(1, 3, 2, 3).contiguous();
        using var result = FidInceptionV3.Preprocess(image);
        Assert.Equal([1L, 3, 299, 299], result.shape);

        var values = result[0, 1].contiguous().data<float>().ToArray();
        var maxError = 0.0;
        for (var y = 0; y < 299; y++)
        {
            var (y0, y1, wy) = Source(y, 2, 299);
            for (var x = 0; x < 299; x++)
            {
                var (x0, x1, wx) = Source(x, 3, 299);
                double At(int row, int column) => pixels[row * 3 + column];
                var top = (1 - wx) * At(y0, x0) + wx * At(y0, x1);
                var bottom = (1 - wx) * At(y1, x0) + wx * At(y1, x1);
                var expected = 2 * ((1 - wy) * top + wy * bottom) - 1;
                maxError = Math.Max(maxError, Math.Abs(values[y * 299 + x] - expected));
            }
        }
        Assert.True(maxError < 1e-6, $"max error {maxError}");

        // Worked by hand: the corners are clamped to the corner pixels; output column 149 of a 2-wide row samples
        // source x = (149 + 0.5)·2/299 − 0.5 = 0.5, halfway between the two pixels.
        Assert.Equal(2 * 0f - 1, values[0], 6);
        Assert.Equal(2 * 0.125f - 1, values[298 * 299 + 298], 6);
        using var row = tensor(new[] { 0f, 1f }, [1, 1, 1, 2]).expand(1, 3, 1, 2).contiguous();
        using var rowResult = FidInceptionV3.Preprocess(row);
        Assert.Equal(0f, rowResult[0, 0, 0, 149].item<float>(), 6);
        Assert.Equal(-1f, rowResult[0, 0, 0, 0].item<float>(), 6);
        Assert.Equal(1f, rowResult[0, 0, 0, 298].item<float>(), 6);
    }

    /// <summary>PyTorch's <c>area_pixel_compute_source_index</c> for align_corners=False, clamped at 0, and the two
    /// neighbours with the weight of the second.</summary>
    static (int Low, int High, double Weight) Source(int destination, int inputSize, int outputSize)
    {
        var source = Math.Max((destination + 0.5) * inputSize / outputSize - 0.5, 0);
        var low = (int)Math.Floor(source);
        var high = low < inputSize - 1 ? low + 1 : low;
        return (low, high, source - low);
    }

    [Fact]
    public void A_random_network_gives_finite_features_and_logits_that_survive_a_checkpoint_round_trip()
    {
        const int Count = 3, Height = 32, Width = 32;
        var bytes = new byte[Count * Height * Width * 3];
        new Random(5).NextBytes(bytes);

        using var network = new FidInceptionV3();
        GiveStatistics(network);
        var path = Path.Combine(folder.FullName, "inception.pth");
        Checkpoint.SaveStateDict(network, path);

        var start = DateTime.UtcNow;
        var direct = new List<InceptionFeatureBatch>();
        foreach (var (first, n) in new[] { (0, 2), (2, 1) })
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var images = tensor(bytes[(first * Height * Width * 3)..((first + n) * Height * Width * 3)], [n, Height, Width, 3], ScalarType.Byte)
                .permute(0, 3, 1, 2).to(ScalarType.Float32) / 255f;
            var outputs = network.Extract(images);
            Assert.Equal([(long)n, FidInceptionV3.FeatureDimension], outputs.Pool3.shape);
            Assert.Equal([(long)n, FidInceptionV3.ClassCount], outputs.Logits.shape);
            direct.Add(new InceptionFeatureBatch(first, n, outputs.Pool3.data<float>().ToArray(), outputs.Logits.data<float>().ToArray()));
        }
        output.WriteLine($"direct: {(DateTime.UtcNow - start).TotalSeconds:F2} s for {Count} images");

        var pool3 = direct.SelectMany(batch => batch.Pool3).ToArray();
        Assert.All(pool3, value => Assert.True(float.IsFinite(value)));
        Assert.All(direct.SelectMany(batch => batch.Logits), value => Assert.True(float.IsFinite(value)));
        Assert.True(pool3.Max() > pool3.Min(), "features are constant");
        output.WriteLine($"pool3 range [{pool3.Min()}, {pool3.Max()}]");

        using var loaded = FidInceptionV3.Load(path);
        start = DateTime.UtcNow;
        var batches = InceptionFeatures.FromUInt8Nhwc(loaded, bytes, [Count, Height, Width, 3], batchSize: 2).ToList();
        output.WriteLine($"through the checkpoint: {(DateTime.UtcNow - start).TotalSeconds:F2} s");

        Assert.Equal([0, 2], batches.Select(batch => batch.Start));
        Assert.Equal([2, 1], batches.Select(batch => batch.Count));
        for (var i = 0; i < batches.Count; i++)
        {
            Assert.Equal(direct[i].Pool3, batches[i].Pool3);
            Assert.Equal(direct[i].Logits, batches[i].Logits);
        }
    }

    [Fact]
    public void Weights_load_with_or_without_the_batch_norm_counters_and_nothing_else_is_forgiven()
    {
        using var source = new FidInceptionV3();
        GiveStatistics(source);
        var state = source.state_dict();

        var withCounters = Path.Combine(folder.FullName, "with.pth");
        Checkpoint.SaveStateDict(state, withCounters);
        using (var loaded = FidInceptionV3.Load(withCounters))
            AssertSameState(state, loaded.state_dict(), compareCounters: true);

        var withoutCounters = Path.Combine(folder.FullName, "without.pth");
        Checkpoint.SaveStateDict(state.Where(entry => !entry.Key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)), withoutCounters);
        using (var loaded = FidInceptionV3.Load(withoutCounters))
        {
            AssertSameState(state, loaded.state_dict(), compareCounters: false);
            Assert.Equal(0L, loaded.Conv2d_1a_3x3.bn.num_batches_tracked!.item<long>());
        }

        var missingBoth = Path.Combine(folder.FullName, "missing-both.pth");
        Checkpoint.SaveStateDict(state.Where(entry => entry.Key != "fc.bias" && !entry.Key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)),
            missingBoth);
        // Without counters and without fc.bias: the retry without counters still refuses the file, naming fc.bias.
        var error = Assert.Throws<CheckpointMismatchException>(() => FidInceptionV3.Load(missingBoth));
        Assert.Equal("fc.bias", error.Key);

        var someCounters = Path.Combine(folder.FullName, "some-counters.pth");
        Checkpoint.SaveStateDict(state.Where(entry => entry.Key != "Mixed_7c.branch_pool.bn.num_batches_tracked"), someCounters);
        // Some counters but not all: neither the full nor the counter-less layout matches.
        error = Assert.Throws<CheckpointMismatchException>(() => FidInceptionV3.Load(someCounters));
        Assert.EndsWith(".num_batches_tracked", error.Key);
    }

    /// <summary>Batch-norm statistics other than the defaults (mean 0, variance 1, counter 0), so that loading them is
    /// visible, with variances below 1 that keep a randomly initialised network's activations from fading out.</summary>
    static void GiveStatistics(FidInceptionV3 network)
    {
        using var noGrad = no_grad();
        var index = 0;
        foreach (var module in network.modules().OfType<InceptionBasicConv2d>())
        {
            var channels = module.bn.running_mean!.shape[0];
            using var mean = linspace(-0.01, 0.01, channels);
            using var variance = linspace(0.05, 0.15, channels);
            module.bn.running_mean.copy_(mean);
            module.bn.running_var!.copy_(variance);
            module.bn.num_batches_tracked!.fill_(++index);
        }
    }

    static void AssertSameState(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual, bool compareCounters)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (key, tensor) in expected)
        {
            if (!compareCounters && key.EndsWith(".num_batches_tracked", StringComparison.Ordinal)) continue;
            Assert.True(Network.TensorEquality.Identical(actual[key], tensor), key);
        }
    }

    static List<(string Key, long[] Shape)> Layout()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(RepositoryFixtures.PathOf("inception", "pt_inception_layout.json")));
        return document.RootElement.EnumerateObject()
            .Select(entry => (entry.Name, entry.Value.EnumerateArray().Select(size => size.GetInt64()).ToArray()))
            .ToList();
    }
}
