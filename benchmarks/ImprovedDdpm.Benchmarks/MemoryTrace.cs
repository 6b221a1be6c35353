using System.Globalization;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// Where in a training step the resident memory peaks: <c>memory --trace BATCH on|off</c> (CIFAR-10, gradient
/// checkpointing on or off). After two warm-up steps it runs one forward and backward by hand while a thread samples
/// VmRSS every millisecond, and prints the highest value seen in each phase: the forward, then in backward each
/// checkpointed block's recomputation together with the backward that follows it, up to the next recomputation.
/// Run with <c>MALLOC_MMAP_THRESHOLD_=4194304</c> to make RSS follow the live tensors rather than glibc's heap.
/// </summary>
static class MemoryTrace
{
    public static int Run(string[] args)
    {
        var batch = int.Parse(args[0], CultureInfo.InvariantCulture);
        var checkpointed = args[1] == "on";
        using var trainer = new CifarTrainer(batch, checkpointed);
        var (network, diffusion) = (trainer.Network, trainer.Diffusion);
        var x = trainer.Batch.Images;
        trainer.Loop.TrainOn(trainer.Batch);
        trainer.Loop.TrainOn(trainer.Batch);
        foreach (var p in network.parameters()) p.grad = null; // as TrainLoop leaves them before a backward
        NativeHeap.ReleaseFreeMemory();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"batch {batch}, checkpointing {(checkpointed ? "on" : "off")}; RSS before the forward {CheckpointingMemory.RssMegabytes("VmRSS"):F0} MB"));

        var phases = new List<(string Name, double PeakMb)>();
        var phase = "forward";
        var sampling = true;
        var sampler = new Thread(() =>
        {
            while (Volatile.Read(ref sampling))
            {
                var rss = CheckpointingMemory.RssMegabytes("VmRSS");
                var name = Volatile.Read(ref phase);
                lock (phases)
                {
                    if (phases.Count == 0 || phases[^1].Name != name) phases.Add((name, rss));
                    else if (rss > phases[^1].PeakMb) phases[^1] = (name, rss);
                }
                Thread.Sleep(1);
            }
        }) { IsBackground = true };
        sampler.Start();

        using var scope = NewDisposeScope();
        network.train();
        var loss = diffusion.TrainingLosses(network, x, randint(0, diffusion.NumTimesteps, [batch]), randn_like(x)).Loss.mean();
        NativeHeap.ReleaseFreeMemory(); // as TrainLoop does between forward and backward (with checkpointing)
        Volatile.Write(ref phase, "backward");
        var hooks = new List<Action>();
        foreach (var (name, module) in network.named_modules())
        {
            var norm = module switch { ResBlock res => (nn.Module<Tensor, Tensor>)res.in_layers[0], AttentionBlock attention => attention.norm, _ => null };
            if (norm is null) continue;
            var label = $"backward from recomputing {name}";
            hooks.Add(norm.register_forward_pre_hook((_, input) =>
            {
                Volatile.Write(ref phase, label);
                return input;
            }).remove);
        }
        loss.backward();
        Volatile.Write(ref sampling, false);
        sampler.Join();
        foreach (var remove in hooks) remove();

        var peak = phases.Max(p => p.PeakMb);
        foreach (var (name, peakMb) in phases)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{peakMb,6:F0} MB  {name}{(peakMb == peak ? "  <- peak" : "")}"));
        return 0;
    }
}
