using ImprovedDdpm.Generators.Model;

namespace ImprovedDdpm.Generators.Emit;

/// <summary>The comment block opening every generated file: the configuration as a reader wants to see it.</summary>
internal static class ModelSummary
{
    public static IEnumerable<string> Lines(ModelSpec spec)
    {
        var diffusion = spec.Diffusion;
        var network = spec.Network;
        yield return $"{spec.ClassName}: Improved DDPM generated from its attributes.";
        yield return "";
        var respaced = spec.DefaultRespacedTimesteps.Count == diffusion.Steps ? "" : $", sampled with {spec.DefaultRespacedTimesteps.Count} by default (\"{diffusion.TimestepRespacing}\")";
        yield return $"Diffusion: {diffusion.Steps} steps, {diffusion.Schedule.ToString().ToLowerInvariant()} schedule{respaced}; predicts {Describe(diffusion.MeanType)}, " +
            $"{Describe(diffusion.VarType)} variance, {Describe(diffusion.LossType, diffusion.LearnSigma)} loss" +
            (diffusion.RescaleTimesteps ? "; timesteps rescaled to [0, 1000)." : ".");
        var conditioning = network.ClassConditional ? $", conditioned on {Literal.Of(network.NumClasses)} classes" : "";
        yield return $"Network: {network.ImageSize}x{network.ImageSize}x{network.InChannels} in, {network.OutChannels} channels out, " +
            $"{network.ModelChannels} model channels, {spec.UNet.ResBlocks} res block{(spec.UNet.ResBlocks == 1 ? "" : "s")} per level, dropout {Literal.Of(network.Dropout)}" +
            (network.ScaleShiftNorm ? ", scale-shift norm" : "") + conditioning + (network.Checkpointing ? ", gradient checkpointing" : "") + ".";
        if (network.SuperResolution)
            yield return $"Super-resolution from {network.SmallSize}x{network.SmallSize}: the low-resolution image, upsampled bilinearly, is {network.InChannels} more input channels.";
        var headsUp = spec.UNet.HeadsUpsample == -1 ? spec.UNet.Heads : spec.UNet.HeadsUpsample;
        var resolutions = network.Resolutions.ToArray();
        for (var level = 0; level < resolutions.Length; level++)
        {
            var resolution = resolutions[level];
            var attention = network.AttentionResolutions.Contains(resolution)
                ? headsUp == spec.UNet.Heads ? $", attention ({spec.UNet.Heads} heads)" : $", attention ({spec.UNet.Heads} heads down, {headsUp} up)"
                : "";
            yield return $"  {resolution}x{resolution}: {network.ChannelMult[level] * network.ModelChannels} channels{attention}";
        }
        yield return $"  middle: {network.MiddleBlock.OutChannels} channels, attention ({spec.UNet.Heads} heads)";
        yield return $"{Literal.Count(network.ParameterCount)} parameters.";
        yield return "";
    }

    static string Describe(ModelMeanType type) => type switch
    {
        ModelMeanType.StartX => "x_0",
        ModelMeanType.PreviousX => "x_{t-1}",
        _ => "epsilon",
    };

    static string Describe(ModelVarType type) => type switch
    {
        ModelVarType.LearnedRange => "learned-range",
        ModelVarType.Learned => "learned",
        ModelVarType.FixedSmall => "fixed small",
        _ => "fixed large",
    };

    static string Describe(LossType type, bool learnSigma) => type switch
    {
        LossType.RescaledMse when learnSigma => "hybrid (L_simple + L_vlb * T/1000)",
        LossType.RescaledMse or LossType.Mse => "MSE",
        LossType.RescaledKl => "rescaled VLB (KL)",
        _ => "VLB (KL)",
    };
}
