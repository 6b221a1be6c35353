using System.Diagnostics;
using System.Globalization;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// <c>sampler-accuracy --model-path P [--model Quickstart|Cifar10] [--seeds S] [--batch B] [--budgets 5,10,20,50] [--no-clip]</c>:
/// the table of <see cref="SamplerAccuracy"/> for trained weights (freshly initialised ones predict ε = 0 everywhere,
/// their output layer starting at zero, which no solver can get wrong). Not a BenchmarkDotNet benchmark: it measures
/// error, not time, though it prints the time too.
/// </summary>
static class SamplerAccuracyCommand
{
    public const string Name = "sampler-accuracy";

    public static int Run(string[] args)
    {
        string? modelPath = null;
        var modelName = "Quickstart";
        int seeds = 2, batch = 4;
        int[] budgets = [.. SamplerAccuracy.DefaultBudgets];
        var clip = true;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--model-path": modelPath = Value(); break;
                case "--model": modelName = Value(); break;
                case "--seeds": seeds = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--batch": batch = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--budgets": budgets = [.. Value().Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture))]; break;
                case "--no-clip": clip = false; break;
                default:
                    Console.Error.WriteLine($"{Name}: unknown option {args[i]}");
                    return 1;
            }
        }
        if (modelPath is null)
        {
            Console.Error.WriteLine($"{Name}: --model-path is required (trained weights: fresh ones predict ε = 0)");
            return 1;
        }

        var model = modelName switch
        {
            "Quickstart" => Examples.Quickstart.Shapes16.Definition,
            "Cifar10" => Examples.Cifar10.Cifar10Hybrid.Definition,
            _ => throw new ArgumentException($"no model {modelName}: Quickstart or Cifar10"),
        };
        using var network = model.LoadNetwork(modelPath, CPU);
        var diffusion = model.CreateDiffusion("");
        // Class-conditional models: classes 0, 1, 2, … in turn, so every class is represented.
        using var labels = model.ClassConditional ? tensor(Enumerable.Range(0, batch).Select(i => (long)(i % model.NumClasses)).ToArray()) : null;
        long[] shape = [batch, model.Channels, model.ImageSize, model.ImageSize];
        var watch = Stopwatch.StartNew();
        var progress = new SynchronousProgress(message => Console.Error.WriteLine($"[{watch.Elapsed:mm\\:ss}] {message}"));
        var table = SamplerAccuracy.Measure(diffusion, (IDiffusionNetwork)network, shape, [.. Enumerable.Range(0, seeds).Select(s => (long)s)],
            budgets, clipDenoised: clip, y: labels, progress: progress);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model.Name}, {modelPath}: RMSE (images in [-1, 1]) to DDIM over all {table.GroundTruthEvaluations} steps, {table.Samples} samples (seeds 0-{seeds - 1}, batch {batch}), x_0 {(clip ? "clipped" : "not clipped")}; columns: network evaluations (fewer in brackets where a sampler's steps cannot fill the budget)"));
        Console.WriteLine();
        Console.Write(table.ToMarkdown());
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"one 8-bit grey level is 2/255 = {2.0 / 255:F4}; {watch.Elapsed.TotalSeconds:F0} s in all"));
        return 0;
    }

    sealed class SynchronousProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
