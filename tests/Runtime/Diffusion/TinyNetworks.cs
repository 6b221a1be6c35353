using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Runtime.Diffusion;

/// <summary>The tiny U-Nets with the reference's fixture weights, loaded once and shared by the diffusion tests.</summary>
static class TinyNetworks
{
    static readonly Lazy<IDiffusionNetwork> SigmaNetwork = new(() => Load("tiny_unet_sigma"));
    static readonly Lazy<IDiffusionNetwork> FixedNetwork = new(() => Load("tiny_unet_fixed"));

    /// <summary>6 output channels: ε and the variance interpolation v.</summary>
    public static IDiffusionNetwork Sigma => SigmaNetwork.Value;

    /// <summary>3 output channels: ε only.</summary>
    public static IDiffusionNetwork Fixed => FixedNetwork.Value;

    /// <summary>The network the reference used for a variance type: the learned ones need the extra channels.</summary>
    public static IDiffusionNetwork For(ModelVarType varType) =>
        varType is ModelVarType.Learned or ModelVarType.LearnedRange ? Sigma : Fixed;

    static IDiffusionNetwork Load(string name)
    {
        // Dispose scopes are per thread: loading on a thread of its own keeps the weights out of whatever scope the
        // first test to ask happens to be in.
        return Task.Run(() => (IDiffusionNetwork)TinyFixtureNetworks.Load(name)).Result;
    }
}
