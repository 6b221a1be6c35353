using static TorchSharp.torch;

namespace ImprovedDdpm;

static class NetworkChecks
{
    /// <summary>The reference's <c>assert x.shape[1] == self.channels</c>, with a message that says what arrived.</summary>
    public static void Channels(Tensor x, long expected, string block)
    {
        if (x.dim() < 2 || x.shape[1] != expected)
            throw new ArgumentException($"{block} expects [N, {expected}, …]; got [{string.Join(",", x.shape)}]", nameof(x));
    }
}
