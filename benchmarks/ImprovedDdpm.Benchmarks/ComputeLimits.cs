using System.Diagnostics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// What this machine can do at most, measured through our libtorch in the same sitting as the figures it bounds: the
/// fp32 matrix-product and 3×3 convolution rates, and the network's arithmetic per image, counted from its layers.
/// Training and sampling rates divided by these say how far from the machine's limit each run is.
/// </summary>
static class ComputeLimits
{
    /// <summary>The best of the medians of 2048² and 3072² float32 matrix products, GFLOP/s (2 FLOP per multiply-add).</summary>
    public static double MatmulGflops()
    {
        var best = 0.0;
        foreach (var n in new[] { 2048, 3072 })
        {
            using var scope = NewDisposeScope();
            var (a, b) = (randn(n, n), randn(n, n));
            var seconds = MedianSeconds(() => a.matmul(b).Dispose(), n == 2048 ? 9 : 5);
            best = Math.Max(best, 2.0 * n * n * n / seconds / 1e9);
        }
        return best;
    }

    /// <summary>The median rate of the CIFAR-10 model's commonest layer, a 3×3 convolution of 128 channels at 32×32,
    /// forward, batch 8, GFLOP/s.</summary>
    public static double ConvolutionGflops()
    {
        using var scope = NewDisposeScope();
        using var grad = no_grad();
        using var conv = nn.Conv2d(128, 128, 3, padding: 1);
        var x = randn(8, 128, 32, 32);
        var seconds = MedianSeconds(() => conv.call(x).Dispose(), 15);
        return 2.0 * 9 * 128 * 128 * 32 * 32 * 8 / seconds / 1e9;
    }

    /// <summary>
    /// FLOP of one image's forward pass: 2 per multiply-add of every convolution and linear layer, and of attention's
    /// projections and products (QKᵀ and the weighted sum of V); elementwise work is not counted. A training step is about 3× this
    /// (backward computes the input's and the weights' gradients).
    /// </summary>
    public static double NetworkGflopPerImage(IDiffusionNetwork network, long channels, long imageSize)
    {
        var module = (nn.Module)network;
        double flop = 0;
        var removers = new List<Action>();
        foreach (var layer in module.modules())
        {
            Func<Tensor, Tensor, double>? count = layer switch
            {
                Conv2d c => (_, y) => 2.0 * y.numel() * (c.in_channels / c.groups) * c.kernel_size.Aggregate(1L, (p, k) => p * k),
                OutputConvolution => (_, y) => 2.0 * y.numel() * ((OutputConvolution)layer).weight.shape[1] * 9,
                Linear l => (_, y) => 2.0 * y.numel() * l.in_features,
                // The qkv and output projections (4·C² per token, Conv1d or matrix products: counted here, not by hooks),
                // QKᵀ and A·V (T²·C each over all heads), T = H·W tokens.
                AttentionBlock => (x, _) => AttentionFlop(x.shape[0], x.shape[1], x.shape[2] * x.shape[3]),
                _ => null,
            };
            if (count is null || layer is not nn.Module<Tensor, Tensor> hooked) continue;
            var handle = hooked.register_forward_hook((_, x, y) =>
            {
                flop += count(x, y);
                return y;
            });
            removers.Add(handle.remove);
        }
        try
        {
            using var scope = NewDisposeScope();
            using var grad = no_grad();
            module.eval();
            network.forward(randn(1, channels, imageSize, imageSize), zeros([1], ScalarType.Int64));
        }
        finally
        {
            foreach (var remove in removers) remove();
        }
        return flop / 1e9;
    }

    static double AttentionFlop(long batch, long channels, long tokens) =>
        2.0 * batch * (4.0 * tokens * channels * channels + 2.0 * tokens * tokens * channels);

    static double MedianSeconds(Action action, int repetitions)
    {
        action();
        var times = new List<double>();
        for (var i = 0; i < repetitions; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            times.Add(watch.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
