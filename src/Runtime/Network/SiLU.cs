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
        var gate = sigmoid(x);
        // Without a graph the product can overwrite the gate (x·s and s·x round alike): one tensor allocated, not two.
        if (!is_grad_enabled() && InPlaceWithoutGraph) return gate.mul_(x);
        using (gate) return x * gate;
    }

    /// <summary>A/B switch for the benchmarks: without a graph, write results over temporaries this code owns (true),
    /// or allocate each result as with one (here and in <see cref="ResBlock"/>).</summary>
    internal static bool InPlaceWithoutGraph { get; set; } = true;
}
