using BenchmarkDotNet.Attributes;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// <c>sample --use-ddim --timestep-respacing ddim50</c> of a batch, through <see cref="ImageSampling.Run"/> (freshly
/// initialised weights: the arithmetic is that of trained ones). Seconds per image = time / batch size.
/// </summary>
public class SamplingBenchmarks
{
    string weights = null!;

    [Params("Quickstart", "Cifar10")]
    public string Model { get; set; } = "";

    [Params(1, 8)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var model = Models.Get(Model);
        manual_seed(0);
        using var network = model.CreateNetwork();
        weights = Path.Combine(Directory.CreateTempSubdirectory("improved-ddpm-bench-").FullName, "model.pt");
        Checkpoint.SaveStateDict(network, weights);
    }

    [Benchmark]
    public SampleSet Ddim50() => ImageSampling.Run(Models.Get(Model),
        new SampleOptions(weights, NumSamples: BatchSize, BatchSize: BatchSize, Respacing: "ddim50", UseDdim: true));

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(Path.GetDirectoryName(weights)!, recursive: true);
}
