using System.Diagnostics;
using System.Globalization;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// Peak resident memory and step time of CIFAR-10 training steps with and without gradient checkpointing:
/// <c>dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- memory [batch …] [--steps N]</c>
/// (default batch 8, 3 measured steps after one warm-up; <c>--checkpointing on|off</c> runs one case). Peak RSS only grows within a process, so each case runs
/// in a process of its own (this program again, with <c>--case</c>). <c>memory --trace BATCH on|off</c> shows where in a step
/// the peak is (<see cref="MemoryTrace"/>).
/// </summary>
static class CheckpointingMemory
{
    // Issue 14's side-by-side measurement of the reference (PyTorch 1.13, this machine, batch 32).
    const string ReferenceNote = "reference, batch 32 (issue 14): plain 5396 MB, 1.99 img/s; --use_checkpoint 2483 MB, 1.60 img/s";

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--case") return RunCase(args[1..]);
        if (args.Length > 0 && args[0] == "--trace") return MemoryTrace.Run(args[1..]);
        var steps = 3;
        var batches = new List<int>();
        bool[] cases = [false, true];
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--steps") steps = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--checkpointing") cases = args[++i] switch { "on" => [true], "off" => [false], _ => [false, true] };
            else batches.Add(int.Parse(args[i], CultureInfo.InvariantCulture));
        }
        if (batches.Count == 0) batches.Add(8);

        Console.WriteLine($"Cifar10Hybrid training steps, {steps} measured after 1 warm-up, {Environment.ProcessorCount} cores; {get_num_threads()} libtorch threads");
        Console.WriteLine("batch  checkpointing  peak RSS    before 1st step  median step  img/s");
        foreach (var batch in batches)
        {
            foreach (var checkpointed in cases)
            {
                var line = RunChild(batch, checkpointed, steps);
                var parts = line.Split(' ');
                var (peak, baseline, seconds) = (double.Parse(parts[0], CultureInfo.InvariantCulture),
                    double.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{batch,5}  {(checkpointed ? "on" : "off"),-13}  {peak,6:F0} MB  {baseline,9:F0} MB     {seconds,8:F2} s  {batch / seconds,5:F2}"));
            }
        }
        Console.WriteLine(ReferenceNote);
        return 0;
    }

    static string RunChild(int batch, bool checkpointed, int steps)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // Started as `dotnet X.dll`, the process is dotnet itself: run the same assembly again.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
            start.ArgumentList.Add(typeof(CheckpointingMemory).Assembly.Location);
        foreach (var a in new[] { "memory", "--case", batch.ToString(CultureInfo.InvariantCulture), checkpointed ? "on" : "off", steps.ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        var result = output.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        if (child.ExitCode != 0 || result is null)
            throw new InvalidOperationException($"case batch {batch}, checkpointing {checkpointed} failed (exit {child.ExitCode}):\n{output}");
        return result["RESULT ".Length..].Trim();
    }

    /// <summary>One case: prints <c>RESULT peakMB baselineMB medianSeconds</c>.</summary>
    static int RunCase(string[] args)
    {
        var batch = int.Parse(args[0], CultureInfo.InvariantCulture);
        var checkpointed = args[1] == "on";
        var steps = int.Parse(args[2], CultureInfo.InvariantCulture);
        using var trainer = new CifarTrainer(batch, checkpointed);
        var baseline = RssMegabytes("VmRSS");
        trainer.Loop.TrainOn(trainer.Batch);
        var times = new List<double>();
        for (var i = 0; i < steps; i++)
        {
            var watch = Stopwatch.StartNew();
            trainer.Loop.TrainOn(trainer.Batch);
            times.Add(watch.Elapsed.TotalSeconds);
        }
        times.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT {RssMegabytes("VmHWM"):F0} {baseline:F0} {times[times.Count / 2]:F3}"));
        return 0;
    }

    /// <summary>A /proc/self/status memory line (VmRSS now, VmHWM the peak), in MiB, as refbench.py's ru_maxrss / 1024
    /// that issue 14's table calls MB.</summary>
    internal static double RssMegabytes(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        var kilobytes = long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return kilobytes / 1024.0;
    }
}
