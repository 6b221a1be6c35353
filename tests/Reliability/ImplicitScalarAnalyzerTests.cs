using System.Collections.Immutable;
using ImprovedDdpm.Analyzers;
using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace ImprovedDdpm.Tests.Reliability;

/// <summary>
/// The repository's analyzer (build/Analyzers) reports every TorchSharp Scalar that lives only as a call's temporary,
/// and nothing when the Scalar is held; and the generated code of every model in Generator/Models.cs is clean.
/// </summary>
public sealed class ImplicitScalarAnalyzerTests
{
    const string Usings = "using ImprovedDdpm;\nusing TorchSharp;\nusing static TorchSharp.torch;\n";

    [Theory]
    [InlineData("t * 0.5", ImplicitScalarAnalyzer.UnsafeMemberId)]
    [InlineData("1 - t", ImplicitScalarAnalyzer.UnsafeMemberId)]
    [InlineData("t + u", ImplicitScalarAnalyzer.UnsafeMemberId)]
    [InlineData("t.add_(u)", ImplicitScalarAnalyzer.UnsafeMemberId)]
    [InlineData("t.square()", ImplicitScalarAnalyzer.UnsafeMemberId)]
    [InlineData("t.add_(u, alpha: a)", ImplicitScalarAnalyzer.ImplicitConversionId)]
    [InlineData("t.pow(2)", ImplicitScalarAnalyzer.ImplicitConversionId)]
    [InlineData("t.clamp(-1, 1)", ImplicitScalarAnalyzer.ImplicitConversionId)]
    [InlineData("t.mul(0.5.ToScalar())", ImplicitScalarAnalyzer.TemporaryScalarId)]
    public void Reports_a_scalar_temporary(string expression, string id)
    {
        var diagnostics = Analyze($"{Usings}static class C {{ static object F(Tensor t, Tensor u, double a) => {expression}; }}");
        Assert.NotEmpty(diagnostics);
        foreach (var diagnostic in diagnostics)
        {
            Assert.Equal(id, diagnostic.Id);
            Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
            // At the expression, or at the argument of it that becomes the Scalar.
            Assert.Contains(diagnostic.Location.SourceTree!.GetText().ToString(diagnostic.Location.SourceSpan), expression, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Held_scalars_and_the_safe_arithmetic_pass()
    {
        const string source = Usings + """
            static class C
            {
                static readonly Scalar Half = 0.5.ToScalar();
                static Scalar Make(double v) => v.ToScalar();
                static Tensor F(Tensor t, Tensor u, double a)
                {
                    using var alpha = a.ToScalar();
                    using (var two = 2.ToScalar()) t = t.pow(two);
                    return t.add_(u, alpha).mul(Half).Plus(u).Times(a).ClampTo(-1, 1) - u * t;
                }
            }
            """;
        Assert.Empty(Analyze(source));
    }

    [Fact]
    public void In_generated_mode_only_generated_files_are_checked()
    {
        const string body = "static class C {{ static object F(Tensor t) => t * 0.5; }}";
        var handWritten = CSharpSyntaxTree.ParseText(Usings + string.Format(body), GeneratorHarness.ParseOptions, path: "Hand.cs");
        var generated = CSharpSyntaxTree.ParseText(Usings + string.Format(body).Replace("class C", "class G"), GeneratorHarness.ParseOptions, path: "Model.Network.g.cs");
        var diagnostics = Analyze([handWritten, generated], scope: "generated");
        Assert.Equal("Model.Network.g.cs", Assert.Single(diagnostics).Location.SourceTree!.FilePath);
    }

    [Fact]
    public void The_generated_code_of_every_test_model_is_clean()
    {
        var models = File.ReadAllText(Path.Combine(RepositoryFixtures.RepositoryRoot, "tests", "Generator", "Models.cs"));
        var outcome = GeneratorHarness.Run(models);
        Assert.Empty(outcome.CompilationErrors);
        var trees = outcome.Files.Select(f => CSharpSyntaxTree.ParseText(f.Value, GeneratorHarness.ParseOptions, path: f.Key));
        Assert.True(outcome.Files.Count > 10, $"only {outcome.Files.Count} generated files");
        Assert.Empty(Analyze([.. outcome.Input.SyntaxTrees, .. trees], scope: "generated"));
    }

    static ImmutableArray<Diagnostic> Analyze(string source) =>
        Analyze([CSharpSyntaxTree.ParseText(source, GeneratorHarness.ParseOptions, path: "Test.cs")]);

    static ImmutableArray<Diagnostic> Analyze(SyntaxTree[] trees, string scope = "all")
    {
        var compilation = GeneratorHarness.Compile().AddSyntaxTrees(trees).RemoveSyntaxTrees(GeneratorHarness.Compile().SyntaxTrees);
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        var options = new AnalyzerOptions([], new ScopeOptions(scope));
        return compilation.WithAnalyzers([new ImplicitScalarAnalyzer()], options).GetAnalyzerDiagnosticsAsync().Result;
    }

    sealed class ScopeOptions(string scope) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(scope);
        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Options(null);
        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => new Options(null);
    }

    sealed class Options(string? scope) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, out string value)
        {
            value = scope ?? "";
            return scope is not null && key == "build_property.ImprovedDdpmScalarCheck";
        }
    }
}
