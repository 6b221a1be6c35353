using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The U-Net's last layer, a 3×3 convolution to the 3 or 6 output channels (the reference's <c>out[2]</c>), with the
/// weights under the same keys as <c>nn.Conv2d</c>. It exists because of a libtorch 2.10 fault on CPU: oneDNN's
/// convolution backward intermittently writes NaN into the input gradient when a convolution has few output channels
/// (measured: 41 of 20000 calls for 32→3 channels, 3 of 5000 for 32→6, 1 of 6000 for 32→8; none in 6000 for 16, 24
/// or 48). So where a gradient will be taken on the CPU, it convolves with the weights zero-padded to
/// <see cref="SafeChannels"/> output channels and keeps the real ones: the same values, and the padding's gradient
/// is simply dropped. Elsewhere (sampling, evaluation, CUDA) it is a plain convolution.
/// </summary>
public sealed class OutputConvolution : nn.Module<Tensor, Tensor>
{
    /// <summary>Output channels from which the fault was never seen.</summary>
    public const long SafeChannels = 16;

    public readonly Parameter weight;
    public readonly Parameter bias;

    public OutputConvolution(long inChannels, long outChannels) : base(nameof(OutputConvolution))
    {
        // nn.Conv2d's own initialisation, drawn as the reference draws it (the caller zeroes it, as the reference does).
        using (var conv = nn.Conv2d(inChannels, outChannels, 3, padding: 1))
        {
            weight = new Parameter(conv.weight!.detach().clone().DetachFromDisposeScope());
            bias = new Parameter(conv.bias!.detach().clone().DetachFromDisposeScope());
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        var outChannels = weight.shape[0];
        if (outChannels >= SafeChannels || !is_grad_enabled() || input.device_type != DeviceType.CPU)
            return nn.functional.conv2d(input, weight, bias, padding: [1, 1]);
        using var scope = NewDisposeScope();
        var extra = SafeChannels - outChannels;
        var paddedWeight = cat([weight, zeros([extra, .. weight.shape[1..]], weight.dtype, weight.device)], 0);
        var paddedBias = cat([bias, zeros([extra], bias.dtype, bias.device)], 0);
        return nn.functional.conv2d(input, paddedWeight, paddedBias, padding: [1, 1]).narrow(1, 0, outChannels).MoveToOuterDisposeScope();
    }
}
