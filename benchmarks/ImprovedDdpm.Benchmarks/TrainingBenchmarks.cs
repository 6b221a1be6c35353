using BenchmarkDotNet.Attributes;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// One optimiser step of the real training loop (<see cref="TrainLoop.TrainOn"/>: forward, losses, backward, gradient
/// norm, AdamW, EMA), on random images of the model's size. Samples per second = batch size / time per step.
/// </summary>
public class TrainingBenchmarks : ModelBenchmark
{
    nn.Module network = null!;
    TrainLoop loop = null!;
    TrainingBatch batch = null!;
    string runDirectory = null!;

    [GlobalSetup]
    public void Setup()
    {
        var model = Definition;
        manual_seed(0);
        network = model.CreateNetwork();
        runDirectory = Directory.CreateTempSubdirectory("improved-ddpm-bench-").FullName;
        var options = model.Training with { BatchSize = BatchSize, Microbatch = -1, SaveInterval = int.MaxValue, LogInterval = int.MaxValue };
        loop = new TrainLoop(network, model.CreateDiffusion(""), options, runDirectory, _ => Enumerable.Empty<TrainingBatch>().GetEnumerator());
        var labels = model.ClassConditional ? randint(model.NumClasses, [BatchSize]) : null;
        batch = new TrainingBatch(rand([BatchSize, model.Channels, model.ImageSize, model.ImageSize]).Times(2).Minus(1), labels);
    }

    [Benchmark]
    public TrainingStep Step() => loop.TrainOn(batch);

    [GlobalCleanup]
    public void Cleanup()
    {
        batch.Dispose();
        loop.Dispose();
        network.Dispose();
        Directory.Delete(runDirectory, recursive: true);
    }
}
