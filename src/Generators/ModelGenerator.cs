using ImprovedDdpm.Generators.Diagnostics;
using ImprovedDdpm.Generators.Emit;
using ImprovedDdpm.Generators.Model;
using ImprovedDdpm.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ImprovedDdpm.Generators;

/// <summary>
/// Turns each <c>[Diffusion] [UNet] partial class M</c> into <c>M.Schedule</c>, <c>M.Network</c> and
/// <c>M.CreateDiffusion</c>, <c>M.Definition</c> and, when the command-line tool (the ImprovedDdpm package,
/// src/CommandLine) is referenced, <c>M.Run</c>. Wiring only: parsing and validation happen in <see cref="ModelParser"/>, emission in
/// <c>Emit/</c>; an invalid class gets its diagnostics and no code.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ModelGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var models = context.SyntaxProvider
            .ForAttributeWithMetadataName(ModelParser.DiffusionAttribute, static (node, _) => node is ClassDeclarationSyntax, ModelParser.Parse)
            .WithTrackingName(TrackingNames.Models);
        context.RegisterSourceOutput(models.SelectMany(static (result, _) => result.Diagnostics), Report);

        var specs = models
            .Select(static (result, _) => result.Spec)
            .Where(static spec => spec is not null)
            .WithTrackingName(TrackingNames.Specs);
        // The tool's entry points only where the tool is: a project with the core library alone gets the library's.
        var hasCommandLine = context.CompilationProvider
            .Select(static (compilation, _) => compilation.GetTypeByMetadataName(CommandLineHost) is not null);
        context.RegisterSourceOutput(specs.Combine(hasCommandLine), static (output, input) => Emit(output, input.Left!, input.Right));

        // An executable with no Main of its own gets one that runs the command-line tool of its single model.
        var hasOwnEntryPoint = context.SyntaxProvider
            .CreateSyntaxProvider(static (node, _) => node is GlobalStatementSyntax or MethodDeclarationSyntax { Identifier.ValueText: "Main" }, static (_, _) => true)
            .Collect()
            .Select(static (found, _) => !found.IsEmpty);
        var isExecutable = context.CompilationProvider
            .Select(static (compilation, _) => compilation.Options.OutputKind is OutputKind.ConsoleApplication or OutputKind.WindowsApplication);
        var entryPoint = specs
            .Select(static (spec, _) => spec!.FullName)
            .Collect()
            .Select(static (names, _) => names.OrderBy(name => name, StringComparer.Ordinal).ToEquatableArray())
            .Combine(hasOwnEntryPoint)
            .Combine(isExecutable)
            .Combine(hasCommandLine)
            .Select(static (input, _) => new EntryPointRequest(input.Left.Left.Left, input.Left.Left.Right, input.Left.Right && input.Right))
            .WithTrackingName(TrackingNames.EntryPoint);
        context.RegisterSourceOutput(entryPoint, EmitEntryPoint);

        RequireDiffusion(context, ModelParser.UNetAttribute, "UNet", TrackingNames.OrphanUNets);
        RequireDiffusion(context, ModelParser.TrainingAttribute, "Training", TrackingNames.OrphanTrainings);
        RequireDiffusion(context, ModelParser.SuperResAttribute, "SuperRes", TrackingNames.OrphanSuperRes);
    }

    static void RequireDiffusion(IncrementalGeneratorInitializationContext context, string attribute, string name, string trackingName)
    {
        var orphans = context.SyntaxProvider
            .ForAttributeWithMetadataName(attribute, static (node, _) => node is ClassDeclarationSyntax,
                (syntax, token) => ModelParser.RequireDiffusion(syntax, name, token))
            .WithTrackingName(trackingName);
        context.RegisterSourceOutput(orphans.SelectMany(static (diagnostics, _) => diagnostics), Report);
    }

    static void Report(SourceProductionContext output, DiagnosticInfo diagnostic) => output.ReportDiagnostic(diagnostic.ToDiagnostic());

    /// <summary>The command-line tool's host, whose presence decides whether <c>M.Run</c> and a <c>Main</c> are emitted.</summary>
    const string CommandLineHost = "ImprovedDdpm.CommandLineHost";

    static void Emit(SourceProductionContext output, ModelSpec spec, bool withCommandLine)
    {
        output.AddSource($"{spec.FullName}.Schedule.g.cs", ScheduleEmitter.Emit(spec));
        output.AddSource($"{spec.FullName}.Network.g.cs", NetworkEmitter.Emit(spec));
        output.AddSource($"{spec.FullName}.Diffusion.g.cs", DiffusionEmitter.Emit(spec));
        output.AddSource($"{spec.FullName}.EntryPoints.g.cs", EntryPointsEmitter.Emit(spec, withCommandLine));
    }

    static void EmitEntryPoint(SourceProductionContext output, EntryPointRequest request)
    {
        if (!request.IsToolExecutable || request.HasOwnEntryPoint || request.Models.Count == 0) return;
        if (request.Models.Count == 1)
            output.AddSource("ImprovedDdpmEntryPoint.g.cs", EntryPointsEmitter.EmitProgram(request.Models[0]));
        else
            output.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.AmbiguousEntryPoint, Location.None, string.Join(", ", request.Models)));
    }

    /// <summary>The models of an executable and whether it has its own entry point.</summary>
    /// <param name="IsToolExecutable">An executable that references the command-line tool.</param>
    sealed record EntryPointRequest(EquatableArray<string> Models, bool HasOwnEntryPoint, bool IsToolExecutable);
}
