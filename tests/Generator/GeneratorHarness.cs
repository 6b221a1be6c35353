extern alias Generators;

using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelGenerator = Generators::ImprovedDdpm.Generators.ModelGenerator;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>Runs the model generator on source text, as the compiler would, with step tracking on.</summary>
static class GeneratorHarness
{
    /// <summary>What a project with the core library alone compiles against (no command-line tool).</summary>
    static readonly Lazy<MetadataReference[]> CoreReferences = new(() =>
    {
        // The framework only: the test's own dependencies include the generator, whose linked copies of the enums would clash.
        var framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(path => Path.GetDirectoryName(path) == framework);
        var ours = new[] { typeof(DiffusionAttribute), typeof(GaussianDiffusion), typeof(TorchSharp.torch) }.Select(t => t.Assembly.Location);
        return platform.Concat(ours).Distinct().Select(path => (MetadataReference)MetadataReference.CreateFromFile(path)).ToArray();
    });

    /// <summary>What a project with the ImprovedDdpm package (the tool) compiles against.</summary>
    static readonly Lazy<MetadataReference[]> ToolReferences = new(() =>
        [.. CoreReferences.Value, MetadataReference.CreateFromFile(typeof(CommandLineHost).Assembly.Location)]);

    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public static CSharpCompilation Compile(params string[] sources) => Compile(OutputKind.DynamicallyLinkedLibrary, sources);

    public static CSharpCompilation Compile(OutputKind kind, params string[] sources) => Compile(kind, withCommandLine: true, sources);

    /// <param name="withCommandLine">Reference the command-line tool (the ImprovedDdpm package) besides the core library.</param>
    public static CSharpCompilation Compile(OutputKind kind, bool withCommandLine, params string[] sources) => CSharpCompilation.Create(
        "GeneratorTest",
        sources.Select((text, i) => CSharpSyntaxTree.ParseText(text, ParseOptions, path: $"Model{i}.cs")),
        (withCommandLine ? ToolReferences : CoreReferences).Value,
        new CSharpCompilationOptions(kind, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver CreateDriver() => CSharpGeneratorDriver.Create(
        [new ModelGenerator().AsSourceGenerator()],
        parseOptions: ParseOptions,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Generates for <paramref name="source"/>: the generator's own diagnostics, its files, and the errors
    /// of the whole compilation after generation.</summary>
    public static GeneratorOutcome Run(string source, OutputKind kind = OutputKind.DynamicallyLinkedLibrary, bool withCommandLine = true)
    {
        var compilation = Compile(kind, withCommandLine, source);
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var result = driver.GetRunResult().Results.Single();
        if (result.Exception is not null) throw new InvalidOperationException("the generator threw", result.Exception);
        var errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && !d.Id.StartsWith("IDDPM", StringComparison.Ordinal)).ToImmutableArray();
        return new(generatorDiagnostics, result.GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString()), errors, compilation);
    }
}

/// <param name="Diagnostics">What the generator reported.</param>
/// <param name="Files">Generated files by hint name.</param>
/// <param name="CompilationErrors">Errors of the compilation with the generated files added (the generator's own excluded).</param>
/// <param name="Input">The compilation the generator ran on.</param>
sealed record GeneratorOutcome(ImmutableArray<Diagnostic> Diagnostics, Dictionary<string, string> Files, ImmutableArray<Diagnostic> CompilationErrors,
    Compilation Input)
{
    /// <summary>The source text a diagnostic points at. Cached diagnostics carry a file path and span rather than a tree.</summary>
    public string LocatedText(Diagnostic diagnostic)
    {
        var tree = Input.SyntaxTrees.Single(t => t.FilePath == diagnostic.Location.GetLineSpan().Path);
        return tree.GetText().ToString(diagnostic.Location.SourceSpan);
    }
}
