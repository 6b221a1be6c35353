using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>Initialisations the reference applies after constructing a layer.</summary>
public static class ModuleInit
{
    /// <summary>The reference's <c>zero_module</c>: zeroes every parameter of <paramref name="module"/> and returns it.</summary>
    public static T Zeroed<T>(T module) where T : nn.Module
    {
        ArgumentNullException.ThrowIfNull(module);
        using (no_grad())
        {
            foreach (var parameter in module.parameters())
                parameter.zero_();
        }
        return module;
    }
}
