using System.Diagnostics;
using System.Reflection;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// The Quickstart's tool (a separate process, as a user runs it) killed with SIGKILL at random moments, again and
/// again: every time, the newest complete checkpoint loads, and the run resumed from it ends where an uninterrupted
/// run ends, to the bit.
/// </summary>
public sealed class KilledTrainingTests(ITestOutputHelper output) : IDisposable
{
    const int MaxSteps = 150, Kills = 10;

    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-kill-").FullName;

    static string Tool => typeof(KilledTrainingTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "QuickstartTool").Value!;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_run_killed_at_random_moments_always_resumes_from_a_loadable_checkpoint()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 48, size: 16, classes: 3);
        string[] Args(string run, int saveInterval = 3) => ["train", "--data-dir", data, "--run-dir", run, "--max-steps", $"{MaxSteps}",
            "--batch-size", "4", "--ema-rate", "0.99", "--save-interval", $"{saveInterval}", "--log-interval", "1", .. Directory.Exists(run) ? ["--resume"] : Array.Empty<string>()];
        var killed = Path.Combine(folder, "killed");
        var random = new Random(20261125);
        var seen = new List<long>();
        for (var kill = 1; kill <= Kills; kill++)
        {
            // Kill once the run has saved past the last kill's checkpoint (so every kill lands in training, whatever
            // the machine's speed), at a random moment up to half a second later: between or during saves.
            var before = TrainingCheckpoint.FindLatest(killed)?.Step ?? 0;
            using var process = Start(Args(killed));
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while ((TrainingCheckpoint.FindLatest(killed)?.Step ?? 0) <= before && !process.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(20);
            if (process.WaitForExit(random.Next(500)))
                throw new Xunit.Sdk.XunitException($"the run ended before kill {kill} (raise MaxSteps?). Output:\n{process.StandardOutput.ReadToEnd()}");
            process.Kill(entireProcessTree: true); // SIGKILL
            process.WaitForExit();

            var latest = TrainingCheckpoint.FindLatest(killed);
            Assert.True(latest is not null && latest.Step > before, $"kill {kill}: no checkpoint after step {before}");
            AssertLoadable(latest);
            seen.Add(latest.Step);
        }
        output.WriteLine($"the newest checkpoint after each of {Kills} kills: {string.Join(", ", seen)}");

        using (var finish = Start(Args(killed))) AssertSucceeds(finish);
        var whole = Path.Combine(folder, "whole");
        using (var uninterrupted = Start(Args(whole, saveInterval: MaxSteps))) AssertSucceeds(uninterrupted);

        var a = TrainingCheckpoint.FindLatest(whole)!;
        var b = TrainingCheckpoint.FindLatest(killed)!;
        Assert.Equal(MaxSteps, b.Step);
        Assert.Equal(StateDict(a.ModelPath), StateDict(b.ModelPath));
        Assert.Equal(StateDict(a.Ema.Single().Path), StateDict(b.Ema.Single().Path));
    }

    [Fact]
    public void Sigterm_finishes_the_step_saves_and_exits_cleanly()
    {
        if (OperatingSystem.IsWindows()) return; // no SIGTERM there; Ctrl+C takes the same path
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 48, size: 16, classes: 3);
        var run = Path.Combine(folder, "terminated");
        using var process = Start(["train", "--data-dir", data, "--run-dir", run, "--batch-size", "4", "--log-interval", "5", "--save-interval", "100000"]);
        // Wait for training to be under way (the first log row), then ask it to stop as Ctrl+C or a scheduler would.
        var progress = Path.Combine(run, TrainLoop.ProgressFileName);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(progress) && DateTime.UtcNow < deadline) Thread.Sleep(100);
        Assert.True(File.Exists(progress), "training did not start within a minute");
        using (var terminate = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) terminate.WaitForExit();

        var text = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "the run did not stop within a minute of SIGTERM");
        Assert.True(process.ExitCode == 0, text);
        Assert.Contains("Stopped on request", text);
        var checkpoint = TrainingCheckpoint.FindLatest(run)!;
        Assert.True(checkpoint.Step > 0);
        AssertLoadable(checkpoint);
    }

    /// <summary>What each started process wrote to stderr, kept for failure messages (the tool reports errors there).</summary>
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Process, System.Text.StringBuilder> Errors = [];

    static Process Start(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Tool);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        var errors = Errors.GetOrCreateValue(process);
        process.ErrorDataReceived += (_, line) => { lock (errors) errors.AppendLine(line.Data); };
        process.BeginErrorReadLine();
        return process;
    }

    static void AssertSucceeds(Process process)
    {
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var errors = Errors.GetOrCreateValue(process);
        lock (errors) Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; stderr:\n{errors}\nstdout:\n{text}");
    }

    /// <summary>Every file of the checkpoint reads back: the weights and averages as state dicts, the state file as JSON.</summary>
    static void AssertLoadable(TrainingCheckpoint checkpoint)
    {
        foreach (var path in checkpoint.Ema.Select(e => e.Path).Append(checkpoint.ModelPath).Append(checkpoint.OptimizerPath))
            Assert.NotEmpty(StateDict(path));
        Assert.Equal(checkpoint.Step, TrainingCheckpoint.Open(checkpoint.StatePath).Step);
    }

    /// <summary>A PyTorch checkpoint's tensors, flattened to float64 by key (the optimizer file's nested ones included).</summary>
    static SortedDictionary<string, double[]> StateDict(string path)
    {
        var result = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        using var stream = File.OpenRead(path);
        Flatten(TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict(stream), "", result);
        return result;
    }

    static void Flatten(object? value, string key, SortedDictionary<string, double[]> into)
    {
        switch (value)
        {
            case Tensor tensor:
                into[key] = tensor.to(ScalarType.Float64).flatten().data<double>().ToArray();
                break;
            case System.Collections.IDictionary dictionary:
                foreach (System.Collections.DictionaryEntry entry in dictionary) Flatten(entry.Value, $"{key}/{entry.Key}", into);
                break;
            case System.Collections.IList list when value is not string:
                for (var i = 0; i < list.Count; i++) Flatten(list[i], $"{key}/{i}", into);
                break;
        }
    }
}
