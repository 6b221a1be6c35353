using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>Shape checks that turn the reference's asserts (and libtorch's opaque shape errors) into messages that say
/// what was expected and what arrived. Shapes only: no check reads tensor values, which would stall a GPU.</summary>
public static class NetworkChecks
{
    /// <summary>The reference's <c>assert x.shape[1] == self.channels</c>, with a message that says what arrived.</summary>
    public static void Channels(Tensor x, long expected, string block)
    {
        if (x.dim() < 2 || x.shape[1] != expected)
            throw new ArgumentException($"{block} expects [N, {expected}, …]; got [{Shape(x)}]", nameof(x));
    }

    /// <summary>An up-path block's two inputs, <c>th.cat([h, skip], 1)</c> before it: <paramref name="expected"/>
    /// channels together.</summary>
    public static void ConcatenatedChannels(Tensor h, Tensor skip, long expected, string block)
    {
        if (h.dim() < 2 || skip.dim() < 2 || h.shape[1] + skip.shape[1] != expected)
            throw new ArgumentException($"{block} expects h and skip with {expected} channels together; got [{Shape(h)}] and [{Shape(skip)}]", nameof(skip));
    }

    /// <summary>A U-Net's input: [N, <paramref name="channels"/>, H, W] with H and W divisible by
    /// <paramref name="sizeMultiple"/> (every level but the last halves them), and [N] timesteps.</summary>
    public static void Input(Tensor x, long channels, long sizeMultiple, Tensor timesteps)
    {
        if (x.dim() != 4 || x.shape[1] != channels || x.shape[2] % sizeMultiple != 0 || x.shape[3] % sizeMultiple != 0)
            throw new ArgumentException($"the network expects images [N, {channels}, H, W] with H and W multiples of {sizeMultiple}; got [{Shape(x)}]", nameof(x));
        if (timesteps.dim() != 1 || timesteps.shape[0] != x.shape[0])
            throw new ArgumentException($"the network expects [{x.shape[0]}] timesteps, one per image; got [{Shape(timesteps)}]", nameof(timesteps));
    }

    /// <summary>A super-resolution network's low-resolution input: [N, <paramref name="channels"/>, H / factor, W / factor]
    /// for images x of [N, …, H, W], the factor being the declared ImageSize / SmallSize.</summary>
    public static void LowResolution(Tensor lowRes, Tensor x, long channels, long factor)
    {
        if (lowRes.dim() != 4 || lowRes.shape[0] != x.shape[0] || lowRes.shape[1] != channels
            || lowRes.shape[2] * factor != x.shape[2] || lowRes.shape[3] * factor != x.shape[3])
        {
            throw new ArgumentException(
                $"the network expects low-resolution images [{x.shape[0]}, {channels}, {x.shape[2] / factor}, {x.shape[3] / factor}] " +
                $"({factor} times smaller than x [{Shape(x)}]); got [{Shape(lowRes)}]", nameof(lowRes));
        }
    }

    /// <summary>Class labels: [N] integers, one per image.</summary>
    public static void Labels(Tensor y, long count)
    {
        if (y.dim() != 1 || y.shape[0] != count || y.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"the network expects [{count}] integer class labels, one per image; got {y.dtype} [{Shape(y)}]", nameof(y));
    }

    static string Shape(Tensor x) => string.Join(",", x.shape);
}
