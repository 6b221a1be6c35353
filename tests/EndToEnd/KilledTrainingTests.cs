using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// The Quickstart's tool (a separate process, as a user runs it) killed with SIGKILL at random moments, again and
/// again: every time, the newest complete checkpoint loads, and the run resumed from it ends where an uninterrupted
/// run ends, to the bit.
/// </summary>
/// <remarks>
/// Every wait is on the tool's own progress lines (read as they arrive) and has a deadline that fails the test; the kill
/// moments are chosen by step, not by wall time, so the outcome does not depend on the machine's speed.
/// </remarks>
public sealed partial class KilledTrainingTests(ITestOutputHelper output) : IDisposable
{
    const int Kills = 10, SaveInterval = 3;

    /// <summary>Steps the finishing run trains past the killed run's newest checkpoint.</summary>
    const int FinalStretch = 5;

    /// <summary>
    /// From a start to its kill (start-up, at most three save intervals of steps): about 70 s when measured with the
    /// whole suite and two other builds sharing 2 cores, so a hang, not a slow machine, is what passes it.
    /// </summary>
    static readonly TimeSpan RoundDeadline = TimeSpan.FromMinutes(5);

    /// <summary>For a whole run of a few dozen steps, or a clean stop.</summary>
    static readonly TimeSpan RunDeadline = TimeSpan.FromMinutes(10);

    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-kill-").FullName;

    static string Tool => typeof(KilledTrainingTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "QuickstartTool").Value!;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_run_killed_at_random_moments_always_resumes_from_a_loadable_checkpoint()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 48, size: 16, classes: 3);
        // --resume continues a run folder that exists; the first start of each run creates it.
        string[] Args(string run, long? maxSteps, int saveInterval) =>
        [
            "train", "--data-dir", data, "--run-dir", run, "--batch-size", "4", "--ema-rate", "0.99", "--save-interval", $"{saveInterval}",
            "--log-interval", "1", .. Directory.Exists(run) ? new[] { "--resume" } : [], .. maxSteps is { } max ? new[] { "--max-steps", $"{max}" } : [],
        ];
        var killed = Path.Combine(folder, "killed");
        var random = new Random(20261125);
        var interruptedSaves = 0;
        for (var kill = 1; kill <= Kills; kill++)
        {
            var before = TrainingCheckpoint.FindLatest(killed)?.Step ?? 0;
            // No --max-steps while killing: the run cannot end on its own before its kill, however fast the machine.
            using var run = Start(Args(killed, maxSteps: null, SaveInterval));
            var deadline = DateTime.UtcNow + RoundDeadline;
            // Wait for a checkpoint past the last kill's (so every kill lands in training, none in start-up), then
            // for a random number of further steps: the kill follows the line of that step at once, so it lands
            // right after a save, in the next step's training, or (when that step saves) in the middle of a save.
            var saved = SavedStep(run.WaitForLine(line => SavedStep(line) > before, deadline, $"a checkpoint after step {before}"))!.Value;
            var target = saved + random.Next(2 * SaveInterval);
            if (target > saved) run.WaitForLine(line => CompletedSteps(line) >= target, deadline, $"step {target}");
            var temporaries = Directory.GetFiles(killed, "*.tmp").Length;
            run.Kill(); // SIGKILL
            if (Directory.GetFiles(killed, "*.tmp").Length > temporaries) interruptedSaves++;

            var latest = TrainingCheckpoint.FindLatest(killed);
            Assert.True(latest is not null && latest.Step >= saved, $"kill {kill}: the checkpoint of step {saved} is not the newest complete one");
            AssertLoadable(latest);
            output.WriteLine($"kill {kill}: after step {target}, newest checkpoint at step {latest.Step}");
        }
        output.WriteLine($"{interruptedSaves} of {Kills} kills left a half-written file behind");

        // Both runs end at the same step, a few steps past the last kill's checkpoint.
        var final = TrainingCheckpoint.FindLatest(killed)!.Step + FinalStretch;
        using (var finish = Start(Args(killed, final, SaveInterval))) finish.AssertSucceeds(RunDeadline);
        var whole = Path.Combine(folder, "whole");
        using (var uninterrupted = Start(Args(whole, final, saveInterval: (int)final))) uninterrupted.AssertSucceeds(RunDeadline);

        var a = TrainingCheckpoint.FindLatest(whole)!;
        var b = TrainingCheckpoint.FindLatest(killed)!;
        Assert.Equal(final, a.Step);
        Assert.Equal(final, b.Step);
        Assert.Equal(StateDict(a.ModelPath), StateDict(b.ModelPath));
        Assert.Equal(StateDict(a.Ema.Single().Path), StateDict(b.Ema.Single().Path));
    }

    [UnixFact]
    public void Sigterm_finishes_the_step_saves_and_exits_cleanly() => StopsCleanlyOn(Sigterm);

    /// <summary>SIGUSR1, what mpiexec forwards to its ranks at once, stops a single process the same way.</summary>
    [UnixFact]
    public void Sigusr1_finishes_the_step_saves_and_exits_cleanly() => StopsCleanlyOn(OperatingSystem.IsLinux() ? 10 : 30);

    void StopsCleanlyOn(int signal)
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 48, size: 16, classes: 3);
        var run = Path.Combine(folder, "terminated");
        using var process = Start(["train", "--data-dir", data, "--run-dir", run, "--batch-size", "4", "--log-interval", "5", "--save-interval", "100000"]);
        // Training is under way once the first log row is out; then ask it to stop as Ctrl+C or a scheduler would.
        process.WaitForLine(line => CompletedSteps(line) is not null, DateTime.UtcNow + RoundDeadline, "the first log row");
        Assert.True(SendSignal(process.Id, signal) == 0, $"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");

        var text = process.AssertSucceeds(TimeSpan.FromMinutes(1));
        Assert.Contains("Stopped on request", text);
        var checkpoint = TrainingCheckpoint.FindLatest(run)!;
        Assert.True(checkpoint.Step > 0);
        AssertLoadable(checkpoint);
    }

    const int Sigterm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int SendSignal(int pid, int signal);

    /// <summary>The step of a "saved step N: …" line (the tool prints one per checkpoint), else null.</summary>
    static long? SavedStep(string line) => SavedLine().Match(line) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;

    /// <summary>Steps done when a "step N  loss …" log row is printed (rows number steps from 0), else null.</summary>
    static long? CompletedSteps(string line) => LogLine().Match(line) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + 1 : null;

    [GeneratedRegex(@"^saved step (\d+):")]
    private static partial Regex SavedLine();

    [GeneratedRegex(@"^step (\d+)\s")]
    private static partial Regex LogLine();

    static ChildProcess Start(string[] args) => ChildProcess.Start("dotnet", [Tool, .. args]);

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
