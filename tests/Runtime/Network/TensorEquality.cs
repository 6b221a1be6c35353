using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

static class TensorEquality
{
    /// <summary>
    /// Same shape and bit-for-bit equal values. (TorchSharp's <c>Tensor.equal</c> and <c>torch.equal</c> are
    /// element-wise, unlike PyTorch's <c>torch.equal</c>, which returns one bool.)
    /// </summary>
    public static bool Identical(Tensor actual, Tensor expected)
    {
        if (!actual.shape.SequenceEqual(expected.shape)) return false;
        using var equal = actual.eq(expected);
        using var all = equal.all();
        return all.item<bool>();
    }
}
