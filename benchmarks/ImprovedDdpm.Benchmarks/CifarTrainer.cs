using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// What the benchmark cases time: the CIFAR-10 model (seed 0) with gradient checkpointing on or off, its TrainLoop at
/// one microbatch of <c>batch</c> images in a temporary run directory that never saves or logs, and a batch of
/// uniform images in [-1, 1]. Disposing it deletes the run directory.
/// </summary>
sealed class CifarTrainer : IDisposable
{
    readonly string runDirectory;

    public CifarTrainer(int batch, bool checkpointed)
    {
        manual_seed(0);
        Network = Model.CreateNetwork();
        GradientCheckpoint.SetEnabled(Network, checkpointed);
        Diffusion = Model.CreateDiffusion("");
        runDirectory = Directory.CreateTempSubdirectory("improved-ddpm-bench-").FullName;
        var options = Model.Training with { BatchSize = batch, Microbatch = -1, SaveInterval = int.MaxValue, LogInterval = int.MaxValue };
        Loop = new TrainLoop(Network, Diffusion, options, runDirectory, _ => Enumerable.Empty<TrainingBatch>().GetEnumerator());
        Batch = new TrainingBatch(rand([batch, Model.Channels, Model.ImageSize, Model.ImageSize]).Times(2).Minus(1), null);
    }

    public static ModelDefinition Model => Examples.Cifar10.Cifar10Hybrid.Definition;

    public DiffusionNetworkModule Network { get; }

    public GaussianDiffusion Diffusion { get; }

    public TrainLoop Loop { get; }

    public TrainingBatch Batch { get; }

    public void Dispose()
    {
        Batch.Dispose();
        Loop.Dispose();
        Network.Dispose();
        Directory.Delete(runDirectory, recursive: true);
    }
}
