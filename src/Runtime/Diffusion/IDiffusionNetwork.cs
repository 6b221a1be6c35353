using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// What the diffusion engine needs of a network: ε (or x_0, or x_{t−1}), and with a learned variance the extra
/// channels, for images <c>x</c> at timesteps as the network receives them (already mapped and rescaled).
/// Generated networks implement it; <see cref="DiffusionNetwork.FromFunction"/> adapts any function.
/// </summary>
public interface IDiffusionNetwork
{
    Tensor forward(Tensor x, Tensor timesteps, Tensor? y = null);
}

/// <summary>Adapters to <see cref="IDiffusionNetwork"/>.</summary>
public static class DiffusionNetwork
{
    /// <summary>A network given as a function of (x, timesteps, y).</summary>
    public static IDiffusionNetwork FromFunction(Func<Tensor, Tensor, Tensor?, Tensor> forward) => new FunctionNetwork(forward);

    sealed class FunctionNetwork(Func<Tensor, Tensor, Tensor?, Tensor> function) : IDiffusionNetwork
    {
        public Tensor forward(Tensor x, Tensor timesteps, Tensor? y = null) => function(x, timesteps, y);
    }
}
