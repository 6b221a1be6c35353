using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace ImprovedDdpm.Analyzers;

/// <summary>
/// Reports every <c>TorchSharp.Scalar</c> that lives only as a temporary of a call.
/// </summary>
/// <remarks>
/// <para>Why: a <c>Scalar</c> owns a native handle and has a finalizer. TorchSharp 0.107 reads the handle and passes it
/// to libtorch without keeping the managed object alive (dotnet/TorchSharp#1434, #1496), so once the handle is read
/// the JIT may treat a temporary <c>Scalar</c> as dead, and a collection on another thread can finalize it, freeing
/// the native scalar while libtorch still reads it ("Expected false to be true … toFloat at c10/core/Scalar.h").
/// Long training runs died of this at random steps. Every implicit conversion (<c>t * 0.5</c>, <c>pow(2)</c>,
/// <c>add_(x, alpha: a)</c>, <c>1 - t</c>) makes such a temporary, and so does <c>x.ToScalar()</c> written inline.</para>
/// <para>The fix the rule asks for: create the Scalar in a <c>using</c> declaration (or <c>using</c> statement), which
/// keeps it reachable until after the call, and pass that variable; or pass a tensor instead.</para>
/// <para>TorchSharp itself makes such temporaries inside some members: <c>Tensor.add(Tensor)</c> (alpha = 1), and so
/// every <c>x + y</c> of tensors, the operators with a number operand, <c>square()</c>, the optimizers' steps, …
/// Those members are listed in <c>UnsafeTorchSharpMembers.txt</c>, derived from TorchSharp's IL by a test that fails
/// when the list and the referenced TorchSharp disagree; a call to one is reported too.</para>
/// <para>The MSBuild property <c>ImprovedDdpmScalarCheck</c> selects where it applies: <c>all</c> (default for projects
/// that use TorchSharp) or <c>generated</c> (only generated code: the test project, whose hand-written tests are not
/// long-running).</para>
/// </remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ImplicitScalarAnalyzer : DiagnosticAnalyzer
{
    public const string ImplicitConversionId = "DDPMDEV001";
    public const string TemporaryScalarId = "DDPMDEV002";
    public const string UnsafeMemberId = "DDPMDEV003";

    /// <summary>The embedded list of TorchSharp members that make such a temporary inside TorchSharp.</summary>
    public const string UnsafeMembersResource = "ImprovedDdpm.Analyzers.UnsafeTorchSharpMembers.txt";
    const string ScalarTypeName = "TorchSharp.Scalar";

    static readonly DiagnosticDescriptor ImplicitConversion = new(
        ImplicitConversionId,
        "Implicit TorchSharp Scalar",
        "'{0}' becomes a temporary TorchSharp Scalar that a collection can finalize while libtorch reads it; hold it in a 'using var' Scalar (ToScalar()) and pass that",
        "Reliability",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "TorchSharp 0.107 does not keep a Scalar argument alive across its native call (dotnet/TorchSharp#1434).");

    static readonly DiagnosticDescriptor TemporaryScalar = new(
        TemporaryScalarId,
        "Temporary TorchSharp Scalar",
        "The Scalar made by '{0}' is a temporary that a collection can finalize while libtorch reads it; create it in a 'using var' declaration and pass that",
        "Reliability",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "TorchSharp 0.107 does not keep a Scalar argument alive across its native call (dotnet/TorchSharp#1434).");

    static readonly DiagnosticDescriptor UnsafeMember = new(
        UnsafeMemberId,
        "TorchSharp member with an internal temporary Scalar",
        "'{0}' calls {1}, which makes a temporary Scalar inside TorchSharp that a collection can finalize while libtorch reads it; {2}",
        "Reliability",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The members are listed in UnsafeTorchSharpMembers.txt, derived from TorchSharp's IL by TorchSharpScalarScanTests.");

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(ImplicitConversion, TemporaryScalar, UnsafeMember);

    static readonly Lazy<ImmutableHashSet<string>> UnsafeMembers = new(LoadUnsafeMembers);

    static ImmutableHashSet<string> LoadUnsafeMembers()
    {
        using var stream = typeof(ImplicitScalarAnalyzer).Assembly.GetManifestResourceStream(UnsafeMembersResource)
            ?? throw new InvalidOperationException($"the analyzer lacks its resource {UnsafeMembersResource}");
        using var reader = new StreamReader(stream);
        var members = ImmutableHashSet.CreateBuilder<string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && line[0] != '#') members.Add(line);
        }
        return members.ToImmutable();
    }

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.Analyze | GeneratedCodeAnalysisFlags.ReportDiagnostics);
        context.RegisterCompilationStartAction(start =>
        {
            var scalar = start.Compilation.GetTypeByMetadataName(ScalarTypeName);
            if (scalar is null) return;
            start.Options.AnalyzerConfigOptionsProvider.GlobalOptions.TryGetValue("build_property.ImprovedDdpmScalarCheck", out var scope);
            var generatedOnly = string.Equals(scope, "generated", System.StringComparison.OrdinalIgnoreCase);
            start.RegisterOperationAction(c => AnalyzeConversion(c, scalar, generatedOnly), OperationKind.Conversion);
            start.RegisterOperationAction(c => AnalyzeInvocation(c, scalar, generatedOnly), OperationKind.Invocation);
            start.RegisterOperationAction(c => AnalyzeMemberUse(c, generatedOnly),
                OperationKind.Invocation, OperationKind.Binary, OperationKind.CompoundAssignment, OperationKind.Unary);
        });
    }

    static void AnalyzeConversion(OperationAnalysisContext context, INamedTypeSymbol scalar, bool generatedOnly)
    {
        var conversion = (IConversionOperation)context.Operation;
        if (!conversion.IsImplicit || !conversion.Conversion.IsUserDefined) return;
        if (!SymbolEqualityComparer.Default.Equals(conversion.Type, scalar)) return;
        if (generatedOnly && !IsGenerated(context)) return;
        context.ReportDiagnostic(Diagnostic.Create(ImplicitConversion, conversion.Syntax.GetLocation(), conversion.Syntax.ToString()));
    }

    static void AnalyzeInvocation(OperationAnalysisContext context, INamedTypeSymbol scalar, bool generatedOnly)
    {
        var invocation = (IInvocationOperation)context.Operation;
        if (!SymbolEqualityComparer.Default.Equals(invocation.Type, scalar)) return;
        if (IsHeld(invocation)) return;
        if (generatedOnly && !IsGenerated(context)) return;
        context.ReportDiagnostic(Diagnostic.Create(TemporaryScalar, invocation.Syntax.GetLocation(), invocation.Syntax.ToString()));
    }

    static void AnalyzeMemberUse(OperationAnalysisContext context, bool generatedOnly)
    {
        var method = context.Operation switch
        {
            IInvocationOperation invocation => invocation.TargetMethod,
            IBinaryOperation binary => binary.OperatorMethod,
            ICompoundAssignmentOperation compound => compound.OperatorMethod,
            IUnaryOperation unary => unary.OperatorMethod,
            _ => null,
        };
        if (method is null || method.ContainingAssembly?.Name != "TorchSharp") return;
        var key = MemberKey(method.OriginalDefinition);
        if (!UnsafeMembers.Value.Contains(key)) return;
        if (generatedOnly && !IsGenerated(context)) return;
        var advice = method.MethodKind is MethodKind.UserDefinedOperator
            ? "call the method with a held Scalar instead (for a sum of tensors: x.add(y, alpha: one) with 'one' held, e.g. HeldScalars.One)"
            : "pass every Scalar argument explicitly, held in a 'using var'";
        context.ReportDiagnostic(Diagnostic.Create(UnsafeMember, context.Operation.Syntax.GetLocation(), context.Operation.Syntax.ToString(), key, advice));
    }

    /// <summary>
    /// A member as reflection names it, the list's format: the declaring type's full metadata name (nested types after
    /// '+'), the member's metadata name, and its parameter types' simple metadata names.
    /// </summary>
    internal static string MemberKey(IMethodSymbol method) =>
        $"{TypeFullName(method.ContainingType)}.{method.MetadataName}({string.Join(", ", method.Parameters.Select(ParameterName))})";

    static string TypeFullName(INamedTypeSymbol type) => type.ContainingType is { } outer
        ? $"{TypeFullName(outer)}+{type.MetadataName}"
        : type.ContainingNamespace is { IsGlobalNamespace: false } ns ? $"{ns.ToDisplayString()}.{type.MetadataName}" : type.MetadataName;

    static string ParameterName(IParameterSymbol parameter) =>
        TypeName(parameter.Type) + (parameter.RefKind == RefKind.None ? "" : "&");

    static string TypeName(ITypeSymbol type) => type switch
    {
        IArrayTypeSymbol array => TypeName(array.ElementType) + "[" + new string(',', array.Rank - 1) + "]",
        IPointerTypeSymbol pointer => TypeName(pointer.PointedAtType) + "*",
        _ => type.MetadataName,
    };

    /// <summary>
    /// A Scalar is held when it initialises a <c>using</c> variable, is returned (the caller holds it), or is stored in
    /// a field or property (the owner holds it).
    /// </summary>
    static bool IsHeld(IOperation operation)
    {
        var parent = operation.Parent;
        while (parent is IConversionOperation { Conversion.IsUserDefined: false } or IParenthesizedOperation)
            parent = parent.Parent;
        switch (parent)
        {
            case IReturnOperation:
                return true;
            case ISimpleAssignmentOperation assignment:
                return assignment.Target is IFieldReferenceOperation or IPropertyReferenceOperation;
            case IVariableInitializerOperation initializer:
                for (IOperation? up = initializer.Parent; up is not null; up = up.Parent)
                {
                    switch (up)
                    {
                        case IUsingDeclarationOperation:
                        case IUsingOperation:
                            return true;
                        case IFieldInitializerOperation or IPropertyInitializerOperation:
                            return true;
                        case IBlockOperation:
                            return false;
                    }
                }
                return false;
            case IFieldInitializerOperation or IPropertyInitializerOperation:
                return true;
            default:
                return false;
        }
    }

    static bool IsGenerated(OperationAnalysisContext context)
    {
        var path = context.Operation.Syntax.SyntaxTree.FilePath;
        return path.EndsWith(".g.cs", System.StringComparison.OrdinalIgnoreCase);
    }
}
