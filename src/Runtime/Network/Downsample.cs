using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Halves the spatial size (the reference's <c>Downsample</c>, 2-D): a 3×3 convolution with stride 2 when
/// <c>useConv</c> (key <c>op</c>), otherwise 2×2 average pooling (no parameters).
/// </summary>
/// <remarks>
/// The reference builds the pooling branch as <c>avg_pool_nd(stride)</c>, which passes no kernel size and so raises
/// a TypeError; the reference only ever runs with <c>conv_resample=True</c>. The pooling here is the evidently
/// intended kernel 2, stride 2.
/// </remarks>
public sealed class Downsample : nn.Module<Tensor, Tensor>
{
    public readonly nn.Module<Tensor, Tensor> op;

    public Downsample(long channels, bool useConv) : base(nameof(Downsample))
    {
        Channels = channels;
        UseConv = useConv;
        op = useConv ? nn.Conv2d(channels, channels, 3, stride: 2, padding: 1) : nn.AvgPool2d(2, stride: 2);
        RegisterComponents();
    }

    public long Channels { get; }

    public bool UseConv { get; }

    public override Tensor forward(Tensor x)
    {
        NetworkChecks.Channels(x, Channels, nameof(Downsample));
        return op.call(x);
    }
}
