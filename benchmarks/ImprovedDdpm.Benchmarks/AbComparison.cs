using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// A/B timing of one implementation switch inside one process, for a machine whose load changes from minute to minute:
/// <c>dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- ab SWITCH [--batch 8] [--rounds 6]</c>.
/// The two variants alternate (A, B, B, A, A, B, …) on the same network and data; it prints each one's median training
/// step (<see cref="TrainLoop.TrainOn"/>) and sampling step (<c>PSample</c> under no_grad), and median(B)/median(A)
/// of pairs taken next to each other. A is the old code path, B the new one. Switches: see <see cref="Switches"/>.
/// </summary>
static class AbComparison
{
    static readonly Dictionary<string, Action<bool>> Switches = new()
    {
        ["attention"] = on => AttentionBlock.FusedAttention = on,
        ["norm-recompute"] = on => ResBlock.RecomputeNormalisations = on,
        ["grad-release"] = on => TrainLoop.ReleaseGradients = on,
        ["gradnorm-dot"] = on => TrainLoop.DotGradNorm = on,
        ["attention-linear"] = on => AttentionBlock.TokenMajorProjections = on,
        // Only for checkpointed networks, so through the memory command: IMPROVED_DDPM_OLD=heap-trim … --checkpointing on.
        ["heap-trim"] = on => TrainLoop.TrimHeap = on,
        ["bit-dropout"] = on => BitMaskDropout.Enabled = on,
        // Without a graph (sampling, checkpointed forwards): SiLU and the res blocks' sums written over temporaries.
        ["in-place"] = on => SiLU.InPlaceWithoutGraph = on,
        // glibc's mmap threshold: 32 MiB (where the default's dynamic threshold ends up) against 4 MiB.
        ["mmap-threshold"] = on => NativeHeap.SetMmapThreshold(on ? NativeHeap.DefaultThresholdBytes : 32 << 20),
        // Plain training: every block from glibc's heap, never trimmed, against where its dynamic thresholds end up.
        ["heap-only"] = on => NativeHeap.SetHeapOnly(on),
        // Sampling only: the harness's p_sample under inference_mode instead of no_grad.
        ["inference-mode"] = on => inferenceMode = on,
    };

    /// <summary>Applies <c>IMPROVED_DDPM_OLD=switch,switch</c>: those switches set to the old code path (A) for this
    /// process (used by the memory command, whose cases are processes of their own).</summary>
    public static void ApplyEnvironment()
    {
        foreach (var name in (Environment.GetEnvironmentVariable("IMPROVED_DDPM_OLD") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Switches.TryGetValue(name, out var set)) throw new ArgumentException($"IMPROVED_DDPM_OLD: no switch {name}");
            set(false);
            Console.Error.WriteLine($"{name}: old code path");
        }
    }

    static bool inferenceMode;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || !Switches.TryGetValue(args[0], out var set))
        {
            Console.Error.WriteLine($"usage: ab <{string.Join('|', Switches.Keys)}> [--batch N] [--rounds N] [--no-sampling] [--no-training]");
            return 2;
        }
        var batch = 8;
        var rounds = 6;
        var sampling = true;
        var training = true;
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i] == "--batch") batch = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--rounds") rounds = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--no-sampling") sampling = false;
            else if (args[i] == "--no-training") training = false;
        }
        using var trainer = new CifarTrainer(batch, checkpointed: false);
        var (model, network, diffusion, loop, trainingBatch) = (CifarTrainer.Model, trainer.Network, trainer.Diffusion, trainer.Loop, trainer.Batch);
        // Numerics: the network's output under both variants, eval mode, same input.
        {
            using var scope = NewDisposeScope();
            using var grad = no_grad();
            network.eval();
            // Fresh networks output zeros (zero-initialised output layers): perturb every weight first.
            foreach (var p in network.parameters()) p.PlusInPlace(randn_like(p).Times(0.02));
            var x = randn(batch, model.Channels, model.ImageSize, model.ImageSize);
            var t = linspace(0, 3999, batch);
            set(false);
            var a = ((IDiffusionNetwork)network).forward(x, t);
            set(true);
            var b = ((IDiffusionNetwork)network).forward(x, t);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{args[0]}: max |B - A| of the network output {(b - a).abs().max().item<float>():G3} (max |A| {a.abs().max().item<float>():G3})"));
        }
        if (args[0] == "gradnorm-dot")
        {
            // The gradient norm alone: 2% to 5% of a step, below what whole steps resolve on a loaded machine.
            loop.TrainOn(trainingBatch);
            var gradients = network.parameters().Select(p => p.grad!).ToList();
            using var two = 2.0.ToScalar();
            Report("gradient norm", batch, rounds * 4, set, () =>
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                stack(gradients.Select(g => TrainLoop.SumOfSquares(g, two)).ToList()).to(ScalarType.Float64).cpu().data<double>().Sum();
            });
            set(false);
            var a = gradients.Sum(g => TrainLoop.SumOfSquares(g, two).to(ScalarType.Float64).item<double>());
            set(true);
            var b = gradients.Sum(g => TrainLoop.SumOfSquares(g, two).to(ScalarType.Float64).item<double>());
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sum of squares: A {a:R}, B {b:R}, relative difference {Math.Abs(b - a) / a:G3}"));
            return 0;
        }
        if (training)
        {
            set(false); loop.TrainOn(trainingBatch);
            set(true); loop.TrainOn(trainingBatch);
            Report("training step", batch, rounds, set, () => loop.TrainOn(trainingBatch));
        }
        if (sampling)
        {
            network.eval();
            var noise = new SeededNoiseSource(1);
            using var image = randn(batch, model.Channels, model.ImageSize, model.ImageSize);
            using var step = 3999.ToScalar();
            using var t = full([batch], step, ScalarType.Int64);
            Report("sampling step", batch, rounds * 2, set, () =>
            {
                using var scope = NewDisposeScope();
                using var grad = inferenceMode ? inference_mode(true) : no_grad();
                diffusion.PSample((IDiffusionNetwork)network, image, t, noise);
            });
        }
        set(true);
        return 0;
    }

    static void Report(string what, int batch, int rounds, Action<bool> set, Action run)
    {
        var a = new List<double>();
        var b = new List<double>();
        var ratios = new List<double>();
        for (var r = 0; r < rounds; r++)
        {
            // A B B A: each pair is measured next to each other, with the order alternating.
            var order = r % 2 == 0 ? new[] { false, true } : new[] { true, false };
            var times = new Dictionary<bool, double>();
            foreach (var variant in order)
            {
                set(variant);
                var watch = Stopwatch.StartNew();
                run();
                times[variant] = watch.Elapsed.TotalSeconds;
            }
            a.Add(times[false]);
            b.Add(times[true]);
            ratios.Add(times[true] / times[false]);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what,-14} batch {batch}: A {Median(a):F3} s, B {Median(b):F3} s; B/A time ratio median {Median(ratios):F3} (pairs: {string.Join(' ', ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}); load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
