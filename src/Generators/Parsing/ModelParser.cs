using ImprovedDdpm.Generators.Diagnostics;
using ImprovedDdpm.Generators.Model;
using ImprovedDdpm.Generators.Validation;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ImprovedDdpm.Generators.Parsing;

/// <summary>The transform's result: the model to emit (null when anything is wrong) and what to report.</summary>
internal sealed record ParseResult(ModelSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>
/// Reads the <c>[Diffusion]</c>, <c>[UNet]</c> and <c>[Training]</c> attributes of a class into specs, validates them and,
/// if they are valid, plans the network. Argument locations are kept only long enough to place diagnostics.
/// </summary>
internal static class ModelParser
{
    public const string DiffusionAttribute = "ImprovedDdpm.DiffusionAttribute";
    public const string UNetAttribute = "ImprovedDdpm.UNetAttribute";
    public const string TrainingAttribute = "ImprovedDdpm.TrainingAttribute";
    public const string SuperResAttribute = "ImprovedDdpm.SuperResAttribute";

    public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var type = (INamedTypeSymbol)context.TargetSymbol;
        var declaration = (ClassDeclarationSyntax)context.TargetNode;
        var diffusionData = context.Attributes[0];
        var unetData = FindAttribute(type, UNetAttribute);
        var trainingData = FindAttribute(type, TrainingAttribute);
        var superResData = FindAttribute(type, SuperResAttribute);

        var locations = new ArgumentLocations(cancellationToken);
        var diagnostics = new List<DiagnosticInfo>();
        void Report(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] args) =>
            diagnostics.Add(new(descriptor, location, args.ToEquatableArray()));

        var identifier = LocationInfo.From(declaration) is { } whole
            ? new LocationInfo(whole.FilePath, declaration.Identifier.Span, declaration.Identifier.GetLocation().GetLineSpan().Span)
            : null;
        if (!declaration.Modifiers.Any(m => m.ValueText == "partial")) Report(DiagnosticDescriptors.ClassNotPartial, identifier, type.Name);
        if (type.TypeParameters.Length > 0) Report(DiagnosticDescriptors.ClassIsGeneric, identifier, type.Name);
        if (type.ContainingType is { } outer) Report(DiagnosticDescriptors.ClassIsNested, identifier, type.Name, outer.Name);

        var diffusion = ReadDiffusion(diffusionData, locations);
        UNetSpec? unet = null;
        if (unetData is null) Report(DiagnosticDescriptors.UNetMissing, locations.Attribute(diffusionData), type.Name);
        else unet = ReadUNet(unetData, locations);
        var training = trainingData is null ? TrainingSpec.Defaults : ReadTraining(trainingData, locations);
        var superRes = superResData is null ? null : ReadSuperRes(superResData, locations);

        if (unet is not null)
        {
            foreach (var problem in ModelValidator.Validate(diffusion, unet, training, superRes, locations.Given))
                Report(problem.Descriptor, locations.Of(problem.Argument), problem.MessageArgs);
        }
        // Warnings are reported beside the code; any error means no code.
        if (diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error) || unet is null) return new(null, diagnostics.ToEquatableArray());

        var spec = new ModelSpec(
            Namespace: type.ContainingNamespace.IsGlobalNamespace ? null : type.ContainingNamespace.ToDisplayString(),
            ClassName: type.Name,
            Diffusion: diffusion,
            UNet: unet,
            Network: UNetShape.Plan(unet, diffusion.LearnSigma, superRes),
            Training: training,
            DefaultRespacedTimesteps: TimestepRespacing.SpaceTimesteps(diffusion.Steps, diffusion.TimestepRespacing).ToEquatableArray(),
            SuperRes: superRes);
        return new(spec, diagnostics.ToEquatableArray());
    }

    /// <summary>For a class with <c>[UNet]</c>, <c>[Training]</c> or <c>[SuperRes]</c>: the error when it has no <c>[Diffusion]</c>.</summary>
    public static EquatableArray<DiagnosticInfo> RequireDiffusion(GeneratorAttributeSyntaxContext context, string attributeName, CancellationToken cancellationToken)
    {
        if (FindAttribute((INamedTypeSymbol)context.TargetSymbol, DiffusionAttribute) is not null) return EquatableArray<DiagnosticInfo>.Empty;
        var location = new ArgumentLocations(cancellationToken).Attribute(context.Attributes[0]);
        return new([new(DiagnosticDescriptors.DiffusionMissing, location, new([context.TargetSymbol.Name, attributeName]))]);
    }

    static AttributeData? FindAttribute(INamedTypeSymbol type, string fullName) =>
        type.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == fullName);

    static DiffusionSpec ReadDiffusion(AttributeData data, ArgumentLocations locations)
    {
        var spec = DiffusionSpec.Defaults;
        foreach (var (name, value) in locations.Read(data, "Diffusion"))
        {
            spec = name switch
            {
                nameof(DiffusionSpec.Steps) => spec with { Steps = (int)value! },
                nameof(DiffusionSpec.Schedule) => spec with { Schedule = (NoiseSchedule)(int)value! },
                nameof(DiffusionSpec.LearnSigma) => spec with { LearnSigma = (bool)value! },
                nameof(DiffusionSpec.SigmaSmall) => spec with { SigmaSmall = (bool)value! },
                nameof(DiffusionSpec.UseKl) => spec with { UseKl = (bool)value! },
                nameof(DiffusionSpec.PredictXStart) => spec with { PredictXStart = (bool)value! },
                nameof(DiffusionSpec.RescaleTimesteps) => spec with { RescaleTimesteps = (bool)value! },
                nameof(DiffusionSpec.RescaleLearnedSigmas) => spec with { RescaleLearnedSigmas = (bool)value! },
                nameof(DiffusionSpec.TimestepRespacing) => spec with { TimestepRespacing = (string?)value ?? "" },
                _ => spec,
            };
        }
        return spec;
    }

    static UNetSpec ReadUNet(AttributeData data, ArgumentLocations locations)
    {
        var spec = UNetSpec.Defaults;
        foreach (var (name, value) in locations.Read(data, "UNet"))
        {
            spec = name switch
            {
                nameof(UNetSpec.ImageSize) => spec with { ImageSize = (int)value! },
                nameof(UNetSpec.Channels) => spec with { Channels = (int)value! },
                nameof(UNetSpec.ResBlocks) => spec with { ResBlocks = (int)value! },
                nameof(UNetSpec.ChannelMult) => spec with { ChannelMult = (string?)value ?? "" },
                nameof(UNetSpec.AttentionResolutions) => spec with { AttentionResolutions = (string?)value ?? "" },
                nameof(UNetSpec.Heads) => spec with { Heads = (int)value! },
                nameof(UNetSpec.HeadsUpsample) => spec with { HeadsUpsample = (int)value! },
                nameof(UNetSpec.Dropout) => spec with { Dropout = Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) },
                nameof(UNetSpec.ClassCond) => spec with { ClassCond = (bool)value! },
                nameof(UNetSpec.NumClasses) => spec with { NumClasses = (int)value! },
                nameof(UNetSpec.ScaleShiftNorm) => spec with { ScaleShiftNorm = (bool)value! },
                nameof(UNetSpec.Checkpointing) => spec with { Checkpointing = (bool)value! },
                _ => spec,
            };
        }
        return spec;
    }

    static SuperResSpec ReadSuperRes(AttributeData data, ArgumentLocations locations)
    {
        var spec = SuperResSpec.Defaults;
        foreach (var (name, value) in locations.Read(data, "SuperRes"))
        {
            if (name == nameof(SuperResSpec.SmallSize)) spec = spec with { SmallSize = (int)value! };
        }
        return spec;
    }

    static TrainingSpec ReadTraining(AttributeData data, ArgumentLocations locations)
    {
        var spec = TrainingSpec.Defaults;
        foreach (var (name, value) in locations.Read(data, "Training"))
        {
            spec = name switch
            {
                nameof(TrainingSpec.Lr) => spec with { Lr = Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) },
                nameof(TrainingSpec.BatchSize) => spec with { BatchSize = (int)value! },
                nameof(TrainingSpec.Microbatch) => spec with { Microbatch = (int)value! },
                nameof(TrainingSpec.EmaRate) => spec with { EmaRate = (string?)value ?? "" },
                nameof(TrainingSpec.ScheduleSampler) => spec with { ScheduleSampler = (ScheduleSampler)(int)value! },
                nameof(TrainingSpec.WeightDecay) => spec with { WeightDecay = Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) },
                nameof(TrainingSpec.LrAnnealSteps) => spec with { LrAnnealSteps = (int)value! },
                nameof(TrainingSpec.LogInterval) => spec with { LogInterval = (int)value! },
                nameof(TrainingSpec.SaveInterval) => spec with { SaveInterval = (int)value! },
                _ => spec,
            };
        }
        return spec;
    }

    /// <summary>Where each named argument and each attribute was written, to place a diagnostic at the exact argument.</summary>
    sealed class ArgumentLocations(CancellationToken cancellationToken)
    {
        readonly Dictionary<string, LocationInfo?> arguments = [];
        readonly Dictionary<string, LocationInfo?> attributes = [];

        /// <summary>The arguments written explicitly, as <c>"UNet.Heads"</c>.</summary>
        public ICollection<string> Given => arguments.Keys;

        /// <summary>The named arguments of one attribute, recording where each was written.</summary>
        public IEnumerable<(string Name, object? Value)> Read(AttributeData data, string attribute)
        {
            var syntax = data.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            attributes[attribute] = LocationInfo.From(syntax);
            var written = syntax?.ArgumentList?.Arguments ?? default(SeparatedSyntaxList<AttributeArgumentSyntax>);
            foreach (var argument in data.NamedArguments)
            {
                // An argument that does not bind is the compiler's error to report; read only those that do.
                if (argument.Value.Kind == TypedConstantKind.Error || (argument.Value.Value is null && argument.Value.Type?.SpecialType != SpecialType.System_String))
                    continue;
                var node = written.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == argument.Key);
                arguments[$"{attribute}.{argument.Key}"] = LocationInfo.From(node) ?? attributes[attribute];
                yield return (argument.Key, argument.Value.Value);
            }
        }

        public LocationInfo? Attribute(AttributeData data) =>
            LocationInfo.From(data.ApplicationSyntaxReference?.GetSyntax(cancellationToken));

        /// <summary>The argument's location, or its attribute's when the argument was left at its default.</summary>
        public LocationInfo? Of(string argument) =>
            arguments.TryGetValue(argument, out var location) ? location
            : attributes.TryGetValue(argument.Substring(0, argument.IndexOf('.')), out var attribute) ? attribute
            : null;
    }
}
