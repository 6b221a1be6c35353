using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static ImprovedDdpm.Tests.Support.MpiRun;

namespace ImprovedDdpm.Tests.Distributed;

/// <summary>
/// Training under <c>mpiexec -n 2</c> (tests/MpiProbe's tiny model, 8×8 images, a few steps): the ranks end with the
/// same parameters, which are those of one process training on the same global batch up to float32 summation order;
/// and a job whose rank is killed ends with a message, then resumes from its last checkpoint.
/// </summary>
public sealed partial class DistributedTrainingTests(ITestOutputHelper output) : IDisposable
{
    const int Steps = 20;
    const double Lr = 1e-4; // the model's declared (default) learning rate

    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-mpi-train-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [MpiFact]
    public void Two_ranks_of_batch_4_train_as_one_process_of_batch_8()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 32, size: 8);
        var single = Path.Combine(folder, "single");
        var pair = Path.Combine(folder, "pair");
        using (var alone = StartAlone(variables => variables["OMP_NUM_THREADS"] = "1", "train", data, Path.Combine(folder, "run1"), "8", $"{Steps}", single))
            alone.AssertSucceeds(Deadline);
        using (var job = Start(2, "train", data, Path.Combine(folder, "run2"), "4", $"{Steps}", pair))
        {
            var results = Results(job.AssertSucceeds(Deadline));
            Assert.Equal(results[0]["parameters"], results[1]["parameters"]);
        }
        // Identical on every rank, to the bit: the gradients were averaged before each optimizer step.
        Assert.Equal(File.ReadAllBytes(pair + ".rank0.bin"), File.ReadAllBytes(pair + ".rank1.bin"));

        // The log is the global batch's: every step's loss and gradient norm as one process computes them, up to
        // float32 summation order. A float32 sum or mean of n terms is within about log2(n)·2^-24 ≈ 1e-7 (relative) of
        // the same sum in another order; the loss and the gradient go through a few such reductions (per example,
        // over the batch, across ranks), so 1e-6 bounds them. Measured: 0 for the losses, ≤ 1.2e-7 for the norms.
        var (one, two) = (Rows(Path.Combine(folder, "run1")), Rows(Path.Combine(folder, "run2")));
        Assert.Equal(Steps, one.Count);
        Assert.Equal(one.Select(row => (row["step"], row["samples"])), two.Select(row => (row["step"], row["samples"])));
        foreach (var column in new[] { "loss", "mse", "vb", "grad_norm" })
        {
            for (var i = 0; i < Steps; i++)
            {
                var (a, b) = (one[i][column], two[i][column]);
                Assert.True(Math.Abs(a - b) <= 1e-6 * Math.Abs(a), $"step {i} {column}: {a} alone, {b} over 2 ranks");
            }
        }

        // The parameters: Adam moves a parameter by about lr per step whatever the size of its gradient, so a
        // gradient that is zero up to rounding (the output layers start at zero) can step either way on the rounding
        // alone; over N steps that bounds the difference by ~lr·N (2e-3), and the difference compounds through the
        // trajectory. A split that drew other timesteps or noise, or saw other data, moves parameters by that order;
        // summation order alone stays well below a tenth of it (measured 1.6e-5, mean 6e-10).
        var (p1, p2) = (Floats(single + ".rank0.bin"), Floats(pair + ".rank0.bin"));
        Assert.Equal(p1.Length, p2.Length);
        var deltas = p1.Zip(p2, (a, b) => Math.Abs((double)a - b)).ToArray();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"max |Δparam| after {Steps} steps, K=1×8 vs K=2×4: {deltas.Max():G3} (mean {deltas.Average():G3}) over {p1.Length} parameters"));
        Assert.True(deltas.Max() <= 0.1 * Lr * Steps, $"max |Δparam| {deltas.Max()}");
        Assert.True(deltas.Average() <= 1e-7, $"mean |Δparam| {deltas.Average()}");
    }

    [MpiFact]
    public void A_killed_rank_ends_the_job_with_a_message_and_resume_continues_from_the_last_checkpoint()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 32, size: 8);
        var run = Path.Combine(folder, "run");
        string[] Train(params string[] more) =>
            ["tool", "train", "--data-dir", data, "--run-dir", run, "--batch-size", "4", "--save-interval", "2", "--log-interval", "1", .. more];

        var deadline = DateTime.UtcNow + Deadline;
        int savedStep;
        using (var job = Start(2, Train()))
        {
            // No --max-steps: only the kill ends it. Rank 1 dies in training after rank 0 reported a checkpoint.
            savedStep = SavedStep(job.WaitForLine(line => SavedStep(line) >= 2, deadline, "a checkpoint"))!.Value;
            Kill(RankProcess(job.Id, rank: 1, deadline));
            var code = job.WaitForExit(Deadline);
            output.WriteLine($"killed job: exit code {code}\nstderr:\n{job.Errors}");
            Assert.NotEqual(0, code);
            Assert.Contains("process rank 1", job.Errors + job.Output);
            Assert.Contains("exited on signal 9 (Killed)", job.Errors + job.Output);
        }
        var latest = TrainingCheckpoint.FindLatest(run)!;
        Assert.True(latest.Step >= savedStep, $"the newest complete checkpoint is step {latest.Step}, before the reported {savedStep}");

        // Another number of processes would be another run (data split, dropout): refused, naming the reason.
        using (var alone = StartAlone(variables => variables["OMP_NUM_THREADS"] = "1", Train("--resume")))
        {
            Assert.Equal(1, alone.WaitForExit(Deadline));
            Assert.Contains("the number of processes: the run trained on 2 (mpiexec -n 2), now 1", alone.Errors);
        }

        var end = latest.Step + 2;
        using (var resumed = Start(2, Train("--resume", "--max-steps", $"{end}")))
        {
            var text = resumed.AssertSucceeds(Deadline);
            // Rank 0 alone prints: one final line, not one per rank.
            Assert.Single(text.Split('\n'), line => line.StartsWith("Reached --max-steps", StringComparison.Ordinal));
        }
        Assert.Equal(end, TrainingCheckpoint.FindLatest(run)!.Step);
        var steps = Rows(run).Select(row => (long)row["step"]).ToList();
        Assert.Equal(Enumerable.Range(0, (int)end).Select(i => (long)i), steps); // each step logged once, none lost
    }

    /// <summary>
    /// Stopping a job as a user or a scheduler does: SIGUSR1 to mpiexec (which forwards it to every rank at once) and
    /// SIGTERM (which Open MPI 4.1's mpiexec turns into SIGTERM to every rank after <c>odls_base_sigkill_timeout</c>
    /// seconds and SIGKILL as long again later). Either way the ranks stop after the same step, rank 0 saves a complete
    /// checkpoint of it, and <c>--resume</c> continues from there to the target step.
    /// </summary>
    [MpiFact]
    public void Sigusr1_and_sigterm_stop_every_rank_after_the_same_step_with_a_checkpoint_and_resume_continues()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 32, size: 8);
        var run = Path.Combine(folder, "run");
        string[] Train(params string[] more) =>
            ["tool", "train", "--data-dir", data, "--run-dir", run, "--batch-size", "4", "--save-interval", "1000", "--log-interval", "1", .. more];

        // SIGUSR1: the job ends as one process ends on SIGTERM or Ctrl+C, with exit code 0.
        var first = Stop(Start(2, Train()), Sigusr1, expectedCode: 0, after: 0);

        // SIGTERM: mpiexec waits 8 s (instead of its default 1 s: a step and a save of this model take longer than
        // that on a loaded machine), sends SIGTERM to the ranks, and after 8 s more kills what is left. The ranks have
        // stopped and saved by then; mpiexec itself reports the job as terminated, with exit code 1 whatever the ranks
        // returned.
        var second = Stop(Start(2, variables => variables["OMPI_MCA_odls_base_sigkill_timeout"] = "8", Train("--resume")), Sigterm,
            expectedCode: 1, after: first);

        var end = second + 2;
        using (var resumed = Start(2, Train("--resume", "--max-steps", $"{end}")))
            Assert.Single(resumed.AssertSucceeds(Deadline).Split('\n'), line => line.StartsWith("Reached --max-steps", StringComparison.Ordinal));
        Assert.Equal(end, TrainingCheckpoint.FindLatest(run)!.Step);
        // Each step logged once, none lost: the stopped runs' checkpoints carried on from the step they logged last.
        Assert.Equal(Enumerable.Range(0, (int)end).Select(i => (long)i), Rows(run).Select(row => (long)row["step"]));

        // Waits for a logged step past <after>, signals mpiexec, and checks how the job ended: the step it stopped after.
        long Stop(ChildProcess job, int signal, int expectedCode, long after)
        {
            using (job)
            {
                var deadline = DateTime.UtcNow + Deadline;
                job.WaitForLine(line => LoggedStep(line) > after, deadline, $"a logged step after step {after}");
                Assert.Equal(0, SendSignal(job.Id, signal));
                var code = job.WaitForExit(Deadline);
                output.WriteLine($"signal {signal}: exit code {code}\nstdout:\n{job.Output}\nstderr:\n{job.Errors}");
                Assert.Equal(expectedCode, code);
                // Rank 0 alone prints, once; no rank ended the job.
                var stopped = Assert.Single(job.Output.Split('\n').Select(Plain), line => line.StartsWith("Stopped on request after step ", StringComparison.Ordinal));
                Assert.DoesNotContain("ends the job", job.Errors, StringComparison.Ordinal);
                var step = long.Parse(StoppedLine().Match(stopped).Groups[1].Value, CultureInfo.InvariantCulture);
                Assert.True(step > after, $"stopped after step {step}, not past {after}");
                // The checkpoint of that very step, complete: every file there and readable.
                var latest = TrainingCheckpoint.FindLatest(run)!;
                Assert.Equal(step, latest.Step);
                Assert.Equal(step, TrainingCheckpoint.Open(latest.StatePath).Step);
                foreach (var path in latest.Ema.Select(e => e.Path).Append(latest.ModelPath).Append(latest.OptimizerPath))
                {
                    using var stream = File.OpenRead(path);
                    Assert.NotEmpty(TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict(stream));
                }
                Assert.Empty(Directory.GetFiles(run, "*.tmp"));
                return step;
            }
        }
    }

    const int Sigterm = 15;
    const int Sigusr1 = 10; // Linux's number, where these tests run

    static string Plain(string line) => Regex.Replace(line, @"\x1b\[[0-9;?]*[A-Za-z]", "").Trim();

    /// <summary>The step of a console log line (<c>step N  loss …</c>), else -1.</summary>
    static long LoggedStep(string line) =>
        LoggedLine().Match(Plain(line)) is { Success: true } match ? long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : -1;

    [GeneratedRegex(@"^step (\d+) +loss ")]
    private static partial Regex LoggedLine();

    [GeneratedRegex(@"^Stopped on request after step (\d+);")]
    private static partial Regex StoppedLine();

    [MpiFact]
    public void Sample_and_nll_over_two_ranks_write_what_one_process_writes()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 10, size: 8);
        var run = Path.Combine(folder, "run");
        Alone("tool", "train", "--data-dir", data, "--run-dir", run, "--batch-size", "4", "--max-steps", "1");
        var model = TrainingCheckpoint.FindLatest(run)!.ModelPath;
        string[] Sample(string output, params string[] more) =>
            ["tool", "sample", "--model-path", model, "--num-samples", "7", "--batch-size", "2", "--seed", "3", "--output", Path.Combine(folder, output), .. more];
        string[] Nll(string csv) =>
            ["tool", "nll", "--data-dir", data, "--model-path", model, "--batch-size", "3", "--terms-csv", Path.Combine(folder, csv)];

        Alone(Sample("one"));
        var twoOutput = Together(Sample("two"));
        Assert.Single(twoOutput.Split('\n'), line => line.StartsWith("wrote 7 samples", StringComparison.Ordinal)); // rank 0 alone prints
        // 4 batches of 2, 2, 2 and 1 samples, 2 per rank: gathered in batch order, the same samples pixel for pixel
        // (the files differ only in the zip entries' time stamps).
        var (whole, pair) = (SampleSet.Load(Path.Combine(folder, "one.npz")), SampleSet.Load(Path.Combine(folder, "two.npz")));
        Assert.Equal((7, 8, 8, 3), (pair.Count, pair.Height, pair.Width, pair.Channels));
        Assert.Equal(whole.Pixels, pair.Pixels);
        // Shards compose with ranks: shard 1 of 2 is batches 2 and 3, one per rank, the last 3 samples of the whole.
        Together(Sample("shard", "--shard", "1", "--num-shards", "2"));
        var shard = SampleSet.Load(Path.Combine(folder, "shard.npz"));
        Assert.Equal(3, shard.Count);
        Assert.Equal(whole.Pixels.Skip(4 * 8 * 8 * 3), shard.Pixels);

        // 10 images in batches of 3 (4 batches, the last of 1): the bound's mean and terms as one process gives them.
        var one = Alone(Nll("one.csv"));
        var two = Together(Nll("two.csv"));
        Assert.Equal(LastLine(one), LastLine(two));
        Assert.Equal(File.ReadAllText(Path.Combine(folder, "one.csv")), File.ReadAllText(Path.Combine(folder, "two.csv")));
        output.WriteLine($"bits/dim: {LastLine(one)} (1 process), {LastLine(two)} (2 ranks)");
    }

    static string LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim();

    static string Alone(params string[] arguments)
    {
        using var process = StartAlone(variables => variables["OMP_NUM_THREADS"] = "1", arguments);
        return process.AssertSucceeds(Deadline);
    }

    static string Together(params string[] arguments)
    {
        using var job = Start(2, arguments);
        return job.AssertSucceeds(Deadline);
    }

    // Escape sequences removed: mpiexec gives each rank a pseudo-terminal, where the display may colour its lines.
    static int? SavedStep(string line) =>
        SavedLine().Match(Regex.Replace(line, @"\x1b\[[0-9;?]*[A-Za-z]", "")) is { Success: true } match ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;

    [GeneratedRegex(@"saved step (\d+):")]
    private static partial Regex SavedLine();

    /// <summary>The process of <paramref name="rank"/> among mpiexec's descendants (by its OMPI_COMM_WORLD_RANK).</summary>
    static int RankProcess(int mpiexec, int rank, DateTime deadline)
    {
        while (DateTime.UtcNow < deadline)
        {
            foreach (var pid in Descendants(mpiexec))
            {
                string environment;
                try
                {
                    environment = File.ReadAllText($"/proc/{pid}/environ");
                }
                catch (IOException)
                {
                    continue;
                }
                catch (UnauthorizedAccessException)
                {
                    continue;
                }
                if (environment.Split('\0').Contains($"OMPI_COMM_WORLD_RANK={rank}") && File.ReadAllText($"/proc/{pid}/comm").StartsWith("dotnet", StringComparison.Ordinal))
                    return pid;
            }
            Thread.Yield();
        }
        throw new Xunit.Sdk.XunitException($"no process of rank {rank} under mpiexec {mpiexec}");
    }

    static IEnumerable<int> Descendants(int pid)
    {
        var children = $"/proc/{pid}/task/{pid}/children";
        if (!File.Exists(children)) yield break;
        foreach (var child in File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
        {
            yield return child;
            foreach (var grandchild in Descendants(child)) yield return grandchild;
        }
    }

    static void Kill(int pid)
    {
        const int Sigkill = 9;
        Assert.Equal(0, SendSignal(pid, Sigkill));
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>progress.csv's rows, by column; empty cells left out.</summary>
    static List<Dictionary<string, double>> Rows(string run)
    {
        var lines = File.ReadAllLines(Path.Combine(run, TrainLoop.ProgressFileName));
        var header = lines[0].Split(',');
        return lines.Skip(1).Select(line => line.Split(',').Select((cell, i) => (header[i], cell)).Where(c => c.cell.Length > 0)
            .ToDictionary(c => c.Item1, c => double.Parse(c.cell, CultureInfo.InvariantCulture))).ToList();
    }

    static float[] Floats(string path) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();
}
