using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// A TorchSharp module that is a diffusion network: what every generated <c>M.Network</c> derives from, so that code
/// holding "a model's network" has its parameters, <c>state_dict</c> and <c>forward</c> in one type, without casts.
/// </summary>
public abstract class DiffusionNetworkModule(string name) : nn.Module(name), IDiffusionNetwork
{
    /// <inheritdoc />
    public abstract Tensor forward(Tensor x, Tensor timesteps, Tensor? y = null);
}
