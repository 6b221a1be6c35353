using ImprovedDdpm.Tests.Generator;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Support;

/// <summary>The generated tiny networks (Generator/Models.cs) with the reference's fixture weights.</summary>
static class TinyFixtureNetworks
{
    /// <summary>
    /// <c>tiny_unet_fixed</c>, <c>tiny_unet_sigma</c> or <c>tiny_unet_cond</c>, loaded through
    /// <see cref="Checkpoint.LoadStateDict"/> and in eval mode.
    /// </summary>
    /// <param name="extension"><c>.safetensors</c> or <c>.pt</c> (the twin with the same weights).</param>
    public static nn.Module Load(string name, string extension = ".safetensors")
    {
        nn.Module network = name switch
        {
            "tiny_unet_fixed" => TinyFixed.CreateNetwork(),
            "tiny_unet_sigma" => TinySigma.CreateNetwork(),
            "tiny_unet_cond" => TinyCond.CreateNetwork(),
            _ => throw new ArgumentException($"no tiny fixture network named {name}", nameof(name)),
        };
        Checkpoint.LoadStateDict(network, ReferenceFixtures.PathOf(name + extension));
        network.eval();
        return network;
    }
}
