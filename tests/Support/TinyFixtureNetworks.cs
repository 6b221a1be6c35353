using ImprovedDdpm.Tests.Generator;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Support;

/// <summary>The generated tiny networks (Generator/Models.cs) with the reference's fixture weights.</summary>
static class TinyFixtureNetworks
{
    /// <summary>
    /// <c>tiny_unet_fixed</c>, <c>tiny_unet_sigma</c> or <c>tiny_unet_cond</c>, loaded through
    /// <see cref="ModelDefinition.LoadNetwork"/> (in eval mode).
    /// </summary>
    /// <param name="extension"><c>.safetensors</c> or <c>.pt</c> (the twin with the same weights).</param>
    public static nn.Module Load(string name, string extension = ".safetensors")
    {
        var model = name switch
        {
            "tiny_unet_fixed" => TinyFixed.Definition,
            "tiny_unet_sigma" => TinySigma.Definition,
            "tiny_unet_cond" => TinyCond.Definition,
            _ => throw new ArgumentException($"no tiny fixture network named {name}", nameof(name)),
        };
        return model.LoadNetwork(ReferenceFixtures.PathOf(name + extension), CPU);
    }
}
