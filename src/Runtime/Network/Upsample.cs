using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Doubles the spatial size (the reference's <c>Upsample</c>, 2-D): nearest-neighbour ×2, then a 3×3 convolution
/// when <c>useConv</c> (key <c>conv</c>).
/// </summary>
public sealed class Upsample : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d? conv;

    public Upsample(long channels, bool useConv) : base(nameof(Upsample))
    {
        Channels = channels;
        conv = useConv ? nn.Conv2d(channels, channels, 3, padding: 1) : null;
        RegisterComponents();
    }

    public long Channels { get; }

    public bool UseConv => conv is not null;

    public override Tensor forward(Tensor x)
    {
        NetworkChecks.Channels(x, Channels, nameof(Upsample));
        var upsampled = nn.functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        if (conv is null) return upsampled;
        using (upsampled) return conv.call(upsampled);
    }
}
