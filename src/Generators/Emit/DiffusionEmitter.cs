using ImprovedDdpm.Generators.Model;

namespace ImprovedDdpm.Generators.Emit;

/// <summary>
/// <c>M.CreateDiffusion(respacing)</c>: the Runtime's <c>GaussianDiffusion</c> bound to the compile-time tables, with the
/// mean, variance and loss types derived from the flags as the reference's <c>create_gaussian_diffusion</c> derives them.
/// </summary>
internal static class DiffusionEmitter
{
    public static string Emit(ModelSpec spec)
    {
        var diffusion = spec.Diffusion;
        var writer = SourceWriter.ForModel(spec, "ImprovedDdpm");
        writer.Line("/// <summary>What the network predicts.</summary>");
        writer.Line($"public const ModelMeanType MeanType = ModelMeanType.{diffusion.MeanType};");
        writer.Line();
        writer.Line("/// <summary>How the reverse process's variance is chosen.</summary>");
        writer.Line($"public const ModelVarType VarType = ModelVarType.{diffusion.VarType};");
        writer.Line();
        writer.Line("/// <summary>The training objective.</summary>");
        writer.Line($"public const LossType LossType = global::ImprovedDdpm.LossType.{diffusion.LossType};");
        writer.Line();
        writer.Line("/// <summary>Whether the network sees timesteps rescaled to [0, 1000).</summary>");
        writer.Line($"public const bool RescaleTimesteps = {Literal.Of(diffusion.RescaleTimesteps)};");
        writer.Line();
        writer.Line("/// <summary>The respacing <see cref=\"CreateDiffusion\"/> uses when given none (empty: every step).</summary>");
        writer.Line($"public const string DefaultTimestepRespacing = {Literal.Of(diffusion.TimestepRespacing)};");
        writer.Line();
        writer.Line("/// <summary>");
        writer.Line($"/// The diffusion process over {(diffusion.TimestepRespacing.Length == 0 ? "all" : "the respaced subset of")} the {diffusion.Steps} steps of <see cref=\"Schedule\"/>.");
        writer.Line("/// </summary>");
        writer.Line("/// <param name=\"respacing\">Which steps to keep (<c>\"250\"</c>, <c>\"10,15,20\"</c>, <c>\"ddim50\"</c>; empty keeps all);");
        writer.Line("/// null uses <see cref=\"DefaultTimestepRespacing\"/>.</param>");
        writer.Line("/// <exception cref=\"System.ArgumentException\">The respacing cannot be made from the schedule's steps.</exception>");
        writer.Line("public static GaussianDiffusion CreateDiffusion(string? respacing = null) =>");
        writer.Line("    new(Schedule.ToTables(), MeanType, VarType, LossType, RescaleTimesteps, respacing ?? DefaultTimestepRespacing);");
        writer.Close();
        return writer.ToString();
    }
}
