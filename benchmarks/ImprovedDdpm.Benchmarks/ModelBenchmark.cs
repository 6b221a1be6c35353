using BenchmarkDotNet.Attributes;

namespace ImprovedDdpm.Benchmarks;

/// <summary>The cases every benchmark runs: the examples' Quickstart and CIFAR-10 models, at batch 1 and 8.</summary>
public abstract class ModelBenchmark
{
    [Params("Quickstart", "Cifar10")]
    public string Model { get; set; } = "";

    [Params(1, 8)]
    public int BatchSize { get; set; }

    /// <summary>The model <see cref="Model"/> names.</summary>
    protected ModelDefinition Definition => Model switch
    {
        "Quickstart" => Examples.Quickstart.Shapes16.Definition,
        "Cifar10" => Examples.Cifar10.Cifar10Hybrid.Definition,
        _ => throw new ArgumentException($"no benchmark model {Model}"),
    };
}
