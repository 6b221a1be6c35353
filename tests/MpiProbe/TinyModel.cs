using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace ImprovedDdpm.MpiProbe;

/// <summary>
/// The tests' tiny learned-sigma model (tests/Generator/Models.cs: TinySigma), as a generated command-line tool for the
/// MPI tests: <c>MpiProbe tool train …</c> is exactly what <c>mpiexec -n K TinyProbeModel train …</c> would be.
/// </summary>
[Diffusion(Steps = 10, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2)]
public partial class TinyProbeModel;

static class TinyTraining
{
    /// <summary>
    /// Trains TinyProbeModel through the library (every rank), then each rank writes its parameters, flat float32 in
    /// state_dict order, to <c>{output}.rank{R}.bin</c> and prints their hash.
    /// </summary>
    public static int Train(ICommunicator communicator, string data, string runDirectory, int batchSize, long steps, string output)
    {
        var options = new TrainingRunOptions(data)
        {
            RunDirectory = runDirectory,
            Training = TinyProbeModel.Definition.Training with { BatchSize = batchSize, MaxSteps = steps, LogInterval = 1, SaveInterval = 1000, Seed = 7 },
            Communicator = communicator,
        };
        using var run = TrainingRun.Open(TinyProbeModel.Definition, options);
        run.Run();
        var values = new List<float>();
        using (no_grad())
        {
            foreach (var (_, tensor) in run.Network.state_dict())
                values.AddRange(tensor.to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray());
        }
        var bytes = MemoryMarshal.AsBytes(values.ToArray().AsSpan()).ToArray();
        File.WriteAllBytes($"{output}.rank{communicator.Rank}.bin", bytes);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rank {communicator.Rank}: parameters = {values.Count}:{XxHash64.HashToUInt64(bytes):x16}"));
        return 0;
    }
}

/// <summary>The paper's CIFAR-10 model (examples/Cifar10: 52.5M parameters), for the step benchmark.</summary>
[Diffusion(Steps = 4000, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 32, Channels = 128, ResBlocks = 3, Dropout = 0.3)]
[Training(Lr = 1e-4, BatchSize = 128)]
public partial class Cifar10ProbeModel;
