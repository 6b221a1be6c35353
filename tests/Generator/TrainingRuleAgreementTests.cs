using System.Globalization;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>
/// A training setting is refused at compile time (a diagnostic at the [Training] argument) exactly when it is refused at
/// run time (<see cref="TrainingOptions.Validate"/>, <see cref="TrainingOptions.ParseEmaRates"/>), with the same words:
/// both apply <see cref="TrainingRules"/>.
/// </summary>
public sealed class TrainingRuleAgreementTests
{
    [Theory]
    [InlineData("0.9999", true)]
    [InlineData("0.9999,0.99", true)]
    [InlineData(" 0.9999 , 0.999 ", true)]
    [InlineData("", true)]
    [InlineData("0", true)]
    [InlineData("1", true)]
    [InlineData("0.9999,0.9999", false)]
    [InlineData("0.9999,1.5", false)]
    [InlineData("-0.1", false)]
    [InlineData("abc", false)]
    [InlineData("0.9999,", false)]
    public void Ema_rates(string rates, bool valid)
    {
        var compileTime = CompileTimeProblem($"EmaRate = \"{rates}\"", "IDDPM018");
        string? runTime = null;
        try
        {
            new TrainingOptions { EmaRates = TrainingOptions.ParseEmaRates(rates) }.Validate();
        }
        catch (Exception e) when (e is FormatException or TrainingOptionException)
        {
            runTime = e.Message;
        }
        Assert.Equal(valid, compileTime is null);
        Assert.Equal(valid, runTime is null);
        if (!valid) Assert.Equal(Rule(compileTime!), Rule(runTime!));
    }

    [Theory]
    [InlineData(1e-4, true)]
    [InlineData(3, true)]
    [InlineData(0, false)]
    [InlineData(-1e-4, false)]
    [InlineData(double.PositiveInfinity, false)]
    [InlineData(double.NaN, false)]
    public void Learning_rates(double lr, bool valid)
    {
        var literal = double.IsNaN(lr) ? "double.NaN" : double.IsPositiveInfinity(lr) ? "double.PositiveInfinity" : lr.ToString("R", CultureInfo.InvariantCulture);
        var compileTime = CompileTimeProblem($"Lr = {literal}", "IDDPM015");
        var runTime = Record.Exception(() => new TrainingOptions { Lr = lr }.Validate()) as TrainingOptionException;
        Assert.Equal(valid, compileTime is null);
        Assert.Equal(valid, runTime is null);
        if (!valid) Assert.EndsWith(runTime!.Rule["must be ".Length..], compileTime!);
    }

    [Theory]
    [InlineData(-1, true)]
    [InlineData(4, true)]
    [InlineData(0, false)]
    [InlineData(-2, false)]
    public void Microbatches(int microbatch, bool valid)
    {
        var compileTime = CompileTimeProblem($"Microbatch = {microbatch}", "IDDPM015");
        var runTime = Record.Exception(() => new TrainingOptions { BatchSize = 8, Microbatch = microbatch }.Validate());
        Assert.Equal(valid, compileTime is null);
        Assert.Equal(valid, runTime is null);
    }

    /// <summary>The message of the one diagnostic with <paramref name="id"/> for [Training(<paramref name="arguments"/>)], or null.</summary>
    static string? CompileTimeProblem(string arguments, string id)
    {
        var outcome = GeneratorHarness.Run($$"""
            using ImprovedDdpm;

            [Diffusion(Steps = 100)]
            [UNet(ImageSize = 32, Channels = 64, ResBlocks = 1)]
            [Training({{arguments}})]
            public partial class M;
            """);
        var problems = outcome.Diagnostics.Where(d => d.Id == id).ToList();
        Assert.True(problems.Count <= 1, string.Join("\n", problems));
        Assert.True(outcome.Diagnostics.All(d => d.Id == id), string.Join("\n", outcome.Diagnostics));
        // A value the generator accepts is one it can emit.
        if (problems.Count == 0) Assert.Empty(outcome.CompilationErrors);
        return problems.SingleOrDefault()?.GetMessage(CultureInfo.InvariantCulture);
    }

    /// <summary>The rule part of either message: what follows "must be".</summary>
    static string Rule(string message) => message[(message.IndexOf("must be ", StringComparison.Ordinal) + "must be ".Length)..];
}
