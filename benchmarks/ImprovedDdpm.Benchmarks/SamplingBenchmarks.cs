using BenchmarkDotNet.Attributes;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// <c>sample --use-ddim --timestep-respacing ddim50</c> of a batch, through <see cref="ImageSampling.Run"/> (freshly
/// initialised weights: the arithmetic is that of trained ones). Seconds per image = time / batch size.
/// </summary>
public class SamplingBenchmarks : ModelBenchmark
{
    string weights = null!;

    [GlobalSetup]
    public void Setup()
    {
        var model = Definition;
        manual_seed(0);
        using var network = model.CreateNetwork();
        weights = Path.Combine(Directory.CreateTempSubdirectory("improved-ddpm-bench-").FullName, "model.pt");
        Checkpoint.SaveStateDict(network, weights);
    }

    [Benchmark]
    public SampleSet Ddim50() => ImageSampling.Run(Definition,
        new SampleOptions(weights, NumSamples: BatchSize, BatchSize: BatchSize, Respacing: "ddim50", UseDdim: true));

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(Path.GetDirectoryName(weights)!, recursive: true);
}
