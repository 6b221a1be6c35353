using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// Ours against the reference, side by side, in one command:
/// <c>dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- compare [--ref DIR] [--batch 8 32]
/// [--train-steps 3] [--sample-steps 5] [--rounds 1] [--no-checkpointing]</c>.
/// Each case is a process of its own that does what <c>../shared/bench/refbench.py</c> does for the reference
/// (one warm-up training step, timed <see cref="TrainLoop.TrainOn"/> steps, then single <c>PSample</c> calls under
/// no_grad from t = 3999 down; peak RSS of the whole process). With <c>--ref</c> (an extracted copy of
/// openai/improved-diffusion) and <c>/usr/bin/python3</c> with torch, refbench.py runs the same case right after ours,
/// and the table gives ours/reference ratios; with <c>--rounds R</c> the pairs repeat and the medians are shown. The
/// CIFAR-10 model; checkpointed cases (<c>cifar10ckpt</c>) too unless <c>--no-checkpointing</c>.
/// </summary>
static class ReferenceComparison
{
    const string Python = "/usr/bin/python3";

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--case") return RunCase(args[1..]);
        string? reference = null;
        string? refbench = null;
        var batches = new List<int>();
        var trainSteps = 3;
        var sampleSteps = 5;
        var rounds = 1;
        var checkpointing = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--ref": reference = args[++i]; break;
                case "--refbench": refbench = args[++i]; break;
                case "--train-steps": trainSteps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--sample-steps": sampleSteps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--no-checkpointing": checkpointing = false; break;
                case "--batch": break;
                default: batches.Add(int.Parse(args[i], CultureInfo.InvariantCulture)); break;
            }
        }
        if (batches.Count == 0) batches.Add(8);
        refbench ??= FindRefbench();
        var withReference = false;
        if (reference is not null)
        {
            withReference = ReferenceUsable(reference, refbench, out var why);
            if (!withReference) Console.Error.WriteLine($"warning: the reference is not run: {why}");
        }

        Console.WriteLine($"CIFAR-10 model (52.5M parameters), {trainSteps} training steps after 1 warm-up, {sampleSteps} p_sample steps; " +
            $"{Environment.ProcessorCount} cores, load at start {Load()}" + (withReference ? $"; reference: {reference} via {refbench}" : "; no reference (give --ref DIR)"));
        var rows = new List<string[]>();
        var plain = new List<(int Batch, double OursTrain, double OursSample, double? ReferenceTrain, double? ReferenceSample)>();
        foreach (var batch in batches)
        {
            foreach (var ckpt in checkpointing ? new[] { false, true } : [false])
            {
                var ours = new List<CaseResult>();
                var theirs = new List<CaseResult>();
                for (var r = 0; r < rounds; r++)
                {
                    ours.Add(RunOurs(batch, ckpt, trainSteps, sampleSteps));
                    if (withReference) theirs.Add(RunReference(reference!, refbench!, batch, ckpt, trainSteps, sampleSteps));
                }
                var name = ckpt ? "checkpointed" : "plain";
                if (!ckpt)
                    plain.Add((batch, Median(ours.Select(o => o.TrainImagesPerSecond).ToList()), Median(ours.Select(o => o.SampleImageStepsPerSecond).ToList()),
                        theirs.Count == 0 ? null : Median(theirs.Select(t => t.TrainImagesPerSecond).ToList()),
                        theirs.Count == 0 ? null : Median(theirs.Select(t => t.SampleImageStepsPerSecond).ToList())));
                rows.Add(Row(batch, name, "training img/s", ours.Select(o => o.TrainImagesPerSecond), theirs.Select(t => t.TrainImagesPerSecond), higherIsBetter: true));
                if (!ckpt)
                    rows.Add(Row(batch, name, "sampling img·steps/s", ours.Select(o => o.SampleImageStepsPerSecond), theirs.Select(t => t.SampleImageStepsPerSecond), higherIsBetter: true));
                rows.Add(Row(batch, name, "peak RSS MB", ours.Select(o => o.PeakRssMb), theirs.Select(t => t.PeakRssMb), higherIsBetter: false));
            }
        }
        Console.WriteLine($"load at end {Load()}; medians over {rounds} round(s); ratio = ours / reference");
        Console.WriteLine();
        string[] header = ["batch", "case", "figure", "ours", "reference", "ratio"];
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        Console.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))));
        foreach (var row in rows) Console.WriteLine(string.Join("  ", row.Select((c, i) => i >= 3 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))));
        PrintLimits(plain);
        return 0;
    }

    /// <summary>The plain cases' arithmetic rates against this machine's fp32 limits, measured now (<see cref="ComputeLimits"/>).</summary>
    static void PrintLimits(List<(int Batch, double OursTrain, double OursSample, double? ReferenceTrain, double? ReferenceSample)> plain)
    {
        var model = Examples.Cifar10.Cifar10Hybrid.Definition;
        double forward;
        using (var network = model.CreateNetwork())
            forward = ComputeLimits.NetworkGflopPerImage((IDiffusionNetwork)network, model.Channels, model.ImageSize);
        var matmul = ComputeLimits.MatmulGflops();
        var conv = ComputeLimits.ConvolutionGflops();
        string F(double v) => v.ToString("F0", CultureInfo.InvariantCulture);
        string Share(double gflops) => (gflops / matmul).ToString("P0", CultureInfo.InvariantCulture);
        Console.WriteLine();
        Console.WriteLine($"limits, measured now through our libtorch with {get_num_threads()} threads: fp32 matrix product {F(matmul)} GFLOP/s, " +
            $"3x3 convolution (128 channels, 32x32, batch 8, forward) {F(conv)} GFLOP/s; the network: " +
            $"{forward.ToString("F1", CultureInfo.InvariantCulture)} GFLOP per image forward (convolutions, linears, attention products), ~3x that per trained image");
        foreach (var (batch, oursTrain, oursSample, referenceTrain, referenceSample) in plain)
        {
            var (train, sample) = (3 * forward * oursTrain, forward * oursSample);
            var line = $"batch {batch}: training {F(train)} GFLOP/s = {Share(train)} of the matrix-product peak";
            if (referenceTrain is { } rt) line += $" (reference {Share(3 * forward * rt)}; 1.5x it needs {Share(1.5 * 3 * forward * rt)})";
            line += $"; sampling {F(sample)} GFLOP/s = {Share(sample)}";
            if (referenceSample is { } rs) line += $" (reference {Share(forward * rs)}; 2x it needs {Share(2 * forward * rs)})";
            Console.WriteLine(line);
            // A run cannot beat the peak: the limit was measured while the machine was busier than during the run.
            if (Math.Max(train, sample) > matmul)
                Console.WriteLine($"batch {batch}: the network outran the measured peak, so the peak was measured in a slow moment; rerun for shares that mean something");
        }
    }

    static string[] Row(int batch, string name, string figure, IEnumerable<double> ours, IEnumerable<double> theirs, bool higherIsBetter)
    {
        var o = Median(ours.ToList());
        var t = theirs.ToList();
        var r = t.Count == 0 ? double.NaN : Median(t);
        string F(double v) => double.IsNaN(v) ? "-" : v.ToString(v >= 100 ? "F0" : "F2", CultureInfo.InvariantCulture);
        return [batch.ToString(CultureInfo.InvariantCulture), name, figure, F(o), F(r), double.IsNaN(r) ? "-" : (o / r).ToString("F2", CultureInfo.InvariantCulture) + "×"];
    }

    sealed record CaseResult(double TrainImagesPerSecond, double SampleImageStepsPerSecond, double PeakRssMb);

    static string? FindRefbench()
    {
        // ../shared/bench/refbench.py from the repository (or worktree) root, found from the working directory up.
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "bench", "refbench.py");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    static bool ReferenceUsable(string reference, string? refbench, out string? why)
    {
        why = null;
        if (!Directory.Exists(Path.Combine(reference, "improved_diffusion"))) why = $"{reference} holds no improved_diffusion package";
        else if (refbench is null || !File.Exists(refbench)) why = "refbench.py not found (give --refbench PATH; it is ../shared/bench/refbench.py)";
        else if (!File.Exists(Python)) why = $"{Python} is missing";
        else
        {
            var (code, output) = Start(Python, ["-c", "import torch, numpy"]);
            if (code != 0) why = $"{Python} cannot import torch and numpy: {output.Trim()}";
        }
        return why is null;
    }

    static CaseResult RunOurs(int batch, bool checkpointed, int trainSteps, int sampleSteps)
    {
        List<string> arguments = [];
        var self = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") arguments.Add(typeof(ReferenceComparison).Assembly.Location);
        arguments.AddRange(["compare", "--case", I(batch), checkpointed ? "on" : "off", I(trainSteps), I(sampleSteps)]);
        var (code, output) = Start(self, arguments);
        return Parse(code, output, $"ours, batch {batch}, checkpointing {(checkpointed ? "on" : "off")}");
    }

    static CaseResult RunReference(string reference, string refbench, int batch, bool checkpointed, int trainSteps, int sampleSteps)
    {
        var (code, output) = Start(Python, [refbench, reference, checkpointed ? "cifar10ckpt" : "cifar10", "--batch", I(batch),
            "--train-steps", I(trainSteps), "--sample-steps", I(sampleSteps)]);
        return Parse(code, output, $"reference, batch {batch}, {(checkpointed ? "cifar10ckpt" : "cifar10")}");
    }

    static CaseResult Parse(int code, string output, string what)
    {
        var line = output.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (code != 0 || line is null) throw new InvalidOperationException($"{what} failed (exit {code}):\n{output}");
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        return new CaseResult(root.GetProperty("train_img_per_s").GetDouble(), root.GetProperty("sample_img_steps_per_s").GetDouble(),
            root.GetProperty("peak_rss_mb").GetDouble());
    }

    static (int Code, string Output) Start(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    /// <summary>One case of ours, as refbench.py does it; prints one JSON line with refbench.py's field names.</summary>
    static int RunCase(string[] args)
    {
        var batch = int.Parse(args[0], CultureInfo.InvariantCulture);
        var checkpointed = args[1] == "on";
        var trainSteps = int.Parse(args[2], CultureInfo.InvariantCulture);
        var sampleSteps = int.Parse(args[3], CultureInfo.InvariantCulture);
        using var trainer = new CifarTrainer(batch, checkpointed);
        trainer.Loop.TrainOn(trainer.Batch);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < trainSteps; i++) trainer.Loop.TrainOn(trainer.Batch);
        var trainSeconds = watch.Elapsed.TotalSeconds / trainSteps;

        trainer.Network.eval();
        var noise = new SeededNoiseSource(0);
        double sampleSeconds;
        using (no_grad())
        {
            var image = randn(batch, CifarTrainer.Model.Channels, CifarTrainer.Model.ImageSize, CifarTrainer.Model.ImageSize);
            using (var hundred = 100.ToScalar())
            using (NewDisposeScope())
                trainer.Diffusion.PSample((IDiffusionNetwork)trainer.Network, image, full([batch], hundred, ScalarType.Int64), noise);
            watch.Restart();
            for (var i = 0; i < sampleSteps; i++)
            {
                using var scope = NewDisposeScope();
                using var step = (3999 - i).ToScalar();
                var next = trainer.Diffusion.PSample((IDiffusionNetwork)trainer.Network, image, full([batch], step, ScalarType.Int64), noise).Sample.MoveToOuterDisposeScope();
                image.Dispose();
                image = next.DetachFromDisposeScope();
            }
            sampleSeconds = watch.Elapsed.TotalSeconds / sampleSteps;
            image.Dispose();
        }
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["system"] = "ours",
            ["batch"] = batch,
            ["checkpointing"] = checkpointed,
            ["train_step_s"] = Math.Round(trainSeconds, 4),
            ["train_img_per_s"] = Math.Round(batch / trainSeconds, 2),
            ["sample_step_s"] = Math.Round(sampleSeconds, 4),
            ["sample_img_steps_per_s"] = Math.Round(batch / sampleSeconds, 2),
            ["peak_rss_mb"] = Math.Round(PeakRssMb(), 1),
        }));
        return 0;
    }

    /// <summary>VmHWM in MiB, as refbench.py's ru_maxrss / 1024.</summary>
    static double PeakRssMb()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
    }

    static string I(int value) => value.ToString(CultureInfo.InvariantCulture);

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
}
