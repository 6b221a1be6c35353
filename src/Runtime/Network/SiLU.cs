using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The reference's <c>SiLU</c>: x·sigmoid(x), computed as those two operations (its PyTorch 1.5 fallback, which the
/// reference always uses), not the fused <c>silu</c> kernel, whose float32 rounding differs.
/// </summary>
public sealed class SiLU : nn.Module<Tensor, Tensor>
{
    public SiLU() : base(nameof(SiLU)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        using var gate = sigmoid(x);
        return x * gate;
    }
}
