using ImprovedDdpm.Generators.Model;

namespace ImprovedDdpm.Generators.Emit;

/// <summary>
/// <c>M.Definition</c> (the model as the library's commands take it) and, when the command-line tool is referenced,
/// <c>M.Run(args)</c>; and, for such an executable with one model and no <c>Main</c>, the entry point that calls it.
/// </summary>
internal static class EntryPointsEmitter
{
    public static string Emit(ModelSpec spec, bool withCommandLine)
    {
        var plan = spec.Network;
        var training = spec.Training;
        var writer = SourceWriter.ForModel(spec, "ImprovedDdpm");
        writer.Line("/// <summary>This model as the library's commands take it: <c>TrainingRun.Open(Definition, …)</c>, <c>ImageSampling.Run(Definition, …)</c>, …</summary>");
        writer.Line("public static ModelDefinition Definition { get; } = new(");
        writer.Indent();
        writer.Line($"Name: {Literal.Of(spec.ClassName)},");
        writer.Line("Summary: new[]");
        writer.Line("{");
        writer.Indent();
        foreach (var line in ModelSummary.Lines(spec).Where(l => l.Length > 0)) writer.Line(Literal.Of(line) + ",");
        writer.Outdent();
        writer.Line("},");
        writer.Line($"ImageSize: {Literal.Of(plan.ImageSize)},");
        writer.Line($"Channels: {Literal.Of(plan.InChannels)},");
        writer.Line($"NumClasses: {Literal.Of(plan.NumClasses)},");
        writer.Line($"ParameterCount: {Literal.Of(plan.ParameterCount)},");
        writer.Line("Training: new TrainingOptions");
        writer.Line("{");
        writer.Indent();
        writer.Line($"Lr = {Literal.Of(training.Lr)},");
        writer.Line($"BatchSize = {Literal.Of(training.BatchSize)},");
        writer.Line($"Microbatch = {Literal.Of(training.Microbatch)},");
        TrainingRules.ParseEmaRates(training.EmaRate, out var rates);
        writer.Line($"EmaRates = new double[] {{ {string.Join(", ", rates.Select(Literal.Of))} }},");
        writer.Line($"ScheduleSampler = ScheduleSampler.{training.ScheduleSampler},");
        writer.Line($"WeightDecay = {Literal.Of(training.WeightDecay)},");
        writer.Line($"LrAnnealSteps = {Literal.Of(training.LrAnnealSteps)},");
        writer.Line($"LogInterval = {Literal.Of(training.LogInterval)},");
        writer.Line($"SaveInterval = {Literal.Of(training.SaveInterval)},");
        writer.Outdent();
        writer.Line("},");
        writer.Line("CreateNetwork: CreateNetwork,");
        writer.Line(plan.SuperResolution ? "CreateDiffusion: CreateDiffusion)" : "CreateDiffusion: CreateDiffusion);");
        writer.Outdent();
        if (plan.SuperResolution) writer.Line($"{{ SmallSize = {Literal.Of(plan.SmallSize)} }};");
        if (!withCommandLine)
        {
            writer.Close();
            return writer.ToString();
        }
        writer.Line();
        writer.Line("/// <summary>Runs this model's command-line tool (<c>train</c>, <c>sample</c>, <c>merge</c>, <c>nll</c>, <c>evaluate</c>,");
        writer.Line("/// <c>report</c>, <c>info</c>; <c>--help</c> lists every option) and returns the exit code. Call it from your");
        writer.Line("/// own <c>Main</c>, or leave <c>Main</c> out of an executable with one model and the generator calls it for you.</summary>");
        writer.Line("public static int Run(string[] args) => CommandLineHost.Run(Definition, args);");
        writer.Close();
        return writer.ToString();
    }

    /// <summary>The <c>Main</c> of an executable that declares one model and no entry point of its own.</summary>
    public static string EmitProgram(string modelFullName) => new SourceWriter()
        .Header([$"The entry point of this executable: the command-line tool of {modelFullName}.", ""])
        .Open("internal static class ImprovedDdpmEntryPoint")
        .Line($"public static int Main(string[] args) => global::{modelFullName}.Run(args);")
        .Close()
        .ToString();
}
