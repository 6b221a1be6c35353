using System.Diagnostics;
using System.Text.Json.Nodes;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static ImprovedDdpm.Tests.Runtime.Training.TrainingFixtures;

namespace ImprovedDdpm.Tests.Runtime.Training;

/// <summary>
/// Resuming never loses or overwrites a run's files: a checkpoint that cannot be used is skipped for the one before it
/// and reported, a folder with nothing usable is an error that names its files, and a resume with other inputs is
/// refused. The first row after a resume times only the steps run since.
/// </summary>
public sealed class ResumeSafetyTests(ITestOutputHelper output) : IDisposable
{
    readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("improved-ddpm-resume-");

    public void Dispose() => folder.Delete(recursive: true);

    string Run(string name) => Path.Combine(folder.FullName, name);

    static readonly TrainingOptions Options = new() { BatchSize = 4, MaxSteps = 4, LogInterval = 1, SaveInterval = 2, EmaRates = [0.9] };

    static readonly RunInputs Inputs = new("Toy", 8, 4, 4, new DataIdentity("/data/toy", 8, "0123456789abcdef"));

    /// <summary>A run of four steps with checkpoints at steps 2 and 4; returns its folder.</summary>
    string TrainedRun(string name, RunInputs? inputs = null)
    {
        using var network = ToyNet();
        using var loop = new TrainLoop(network, ShortDiffusion(), Options, Run(name), Batches(Dataset(8, 1), 4)) { Inputs = inputs ?? Inputs };
        loop.Run();
        return Run(name);
    }

    static TrainLoop Resumable(ToyNetwork network, string run, RunInputs? inputs = null, TrainingOptions? options = null) =>
        new(network, ShortDiffusion(), options ?? Options with { MaxSteps = 6 }, run, Batches(Dataset(8, 1), 4)) { Inputs = inputs ?? Inputs };

    static Dictionary<string, byte[]> Contents(string run) => Directory.GetFiles(run).ToDictionary(f => f, File.ReadAllBytes);

    static void AssertUnchanged(Dictionary<string, byte[]> before, string run)
    {
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(run).Order(StringComparer.Ordinal));
        foreach (var (file, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(file)), $"{file} changed");
    }

    [Fact]
    public void A_folder_whose_state_files_are_all_unreadable_is_an_error_naming_them_and_nothing_changes()
    {
        var run = TrainedRun("unreadable");
        File.WriteAllText(Path.Combine(run, "state000002.json"), "{ \"format\": 1, \"step\": ");
        File.WriteAllBytes(Path.Combine(run, "state000004.json"), [0xFF, 0xFE, 0x00]);
        var before = Contents(run);

        using var network = ToyNet();
        using var loop = Resumable(network, run);
        var error = Assert.Throws<InvalidDataException>(() => loop.Resume());
        output.WriteLine(error.Message);

        Assert.Contains(run, error.Message);
        Assert.Contains(Path.Combine(run, "state000002.json"), error.Message);
        Assert.Contains(Path.Combine(run, "state000004.json"), error.Message);
        Assert.Equal(0, loop.Step);
        AssertUnchanged(before, run);
    }

    [Fact]
    public void Checkpoint_files_without_any_state_file_are_an_error_not_a_fresh_start()
    {
        var run = TrainedRun("orphans");
        foreach (var state in Directory.GetFiles(run, "state*.json")) File.Delete(state);
        var before = Contents(run);

        using var network = ToyNet();
        using var loop = Resumable(network, run);
        var error = Assert.Throws<InvalidDataException>(() => loop.Resume());
        output.WriteLine(error.Message);

        Assert.Contains("ema_0.9_000002.pt", error.Message);
        Assert.Contains("no state*.json", error.Message);
        AssertUnchanged(before, run);
    }

    [Fact]
    public void An_unreadable_newest_state_file_falls_back_to_the_checkpoint_before_it_and_says_which()
    {
        var run = TrainedRun("newest-unreadable");
        File.WriteAllText(Path.Combine(run, "state000004.json"), "not json");

        using var network = ToyNet();
        using var loop = Resumable(network, run);
        Assert.True(loop.Resume());

        Assert.Equal(2, loop.Step);
        var skipped = Assert.Single(loop.SkippedOnResume);
        Assert.Equal(4, skipped.Step);
        Assert.Equal(Path.Combine(run, "state000004.json"), skipped.StatePath);
        Assert.Contains(skipped.StatePath, skipped.Reason);
    }

    [Fact]
    public void A_damaged_newest_checkpoint_falls_back_to_the_one_before_it_whole()
    {
        var run = TrainedRun("newest-damaged");
        var entry = ZipDamage.FlipByteInEntry(Path.Combine(run, "opt000004.pt"), "data/0");
        using var atStep2 = ToyNet();
        Checkpoint.LoadStateDict(atStep2, Path.Combine(run, "model000002.pt"));

        using var network = ToyNet();
        using var loop = Resumable(network, run);
        Assert.True(loop.Resume());

        Assert.Equal(2, loop.Step);
        var skipped = Assert.Single(loop.SkippedOnResume);
        output.WriteLine(skipped.Reason);
        Assert.Equal(4, skipped.Step);
        Assert.Contains(Path.Combine(run, "opt000004.pt"), skipped.Reason);
        Assert.Contains($"'{entry}'", skipped.Reason);
        // Nothing of step 4 was loaded (its model file is intact, but the checkpoint is checked whole first).
        Assert.Equal(Flatten(atStep2.parameters()), Flatten(network.parameters()));
    }

    [Fact]
    public void A_state_file_naming_a_missing_file_is_skipped_with_the_file_named()
    {
        var run = TrainedRun("missing-file");
        File.Delete(Path.Combine(run, "ema_0.9_000004.pt"));

        using var network = ToyNet();
        using var loop = Resumable(network, run);
        Assert.True(loop.Resume());

        Assert.Equal(2, loop.Step);
        Assert.Contains("ema_0.9_000004.pt", Assert.Single(loop.SkippedOnResume).Reason);
    }

    [Fact]
    public void A_resume_with_other_inputs_is_refused_saying_what_differs()
    {
        var run = TrainedRun("inputs");
        var before = Contents(run);
        var other = Inputs with { BatchSize = 8, Microbatch = 2, Data = new DataIdentity("/data/other", 9, "fedcba9876543210") };

        using var network = ToyNet();
        using var loop = Resumable(network, run, other);
        var error = Assert.Throws<ArgumentException>(() => loop.Resume());
        output.WriteLine(error.Message);

        Assert.Contains(Path.Combine(run, "state000004.json"), error.Message);
        Assert.Contains("--batch-size: the run's is 4, now 8", error.Message);
        Assert.Contains("--microbatch", error.Message);
        Assert.Contains("the run trained on 8 examples (/data/toy), /data/other holds 9", error.Message);
        Assert.Equal(0, loop.Step);
        AssertUnchanged(before, run);

        // The same number of examples in other files is another data set too.
        using var sameCount = Resumable(network, run, Inputs with { Data = Inputs.Data! with { Source = "/data/moved", Fingerprint = "0000000000000000" } });
        Assert.Contains("other files", Assert.Throws<ArgumentException>(() => sameCount.Resume()).Message);
        // The same files in a moved folder are the same data.
        using var moved = Resumable(network, run, Inputs with { Data = Inputs.Data! with { Source = "/data/moved" } });
        Assert.True(moved.Resume());
    }

    [Fact]
    public void A_state_file_saved_before_inputs_were_recorded_still_resumes()
    {
        var run = TrainedRun("older");
        var statePath = Path.Combine(run, "state000004.json");
        var state = JsonNode.Parse(File.ReadAllText(statePath))!.AsObject();
        Assert.True(state.Remove("inputs"));
        File.WriteAllText(statePath, state.ToJsonString());

        using var network = ToyNet();
        using var loop = Resumable(network, run, Inputs with { BatchSize = 4, Data = null });
        Assert.True(loop.Resume());
        Assert.Equal(4, loop.Step);
        Assert.Empty(loop.SkippedOnResume);
    }

    [Fact]
    public void A_folder_without_checkpoint_files_starts_at_step_0_and_drops_rows_no_checkpoint_kept()
    {
        var run = Directory.CreateDirectory(Run("no-checkpoint")).FullName;
        File.WriteAllLines(Path.Combine(run, TrainLoop.ProgressFileName), ["step,samples,samples/s,lr,grad_norm,loss,loss_q0,loss_q1,loss_q2,loss_q3", "0,4,10,0.0001,1,1,1,,,"]);

        using var network = ToyNet();
        using var loop = Resumable(network, run);
        Assert.False(loop.Resume());

        Assert.Equal(0, loop.Step);
        Assert.Single(File.ReadAllLines(Path.Combine(run, TrainLoop.ProgressFileName)));
    }

    [Fact]
    public void Temporary_files_of_interrupted_saves_are_deleted_and_nothing_else()
    {
        var run = Directory.CreateDirectory(Run("temporaries")).FullName;
        var guid = Guid.NewGuid().ToString("N");
        string[] ours = [$".model000020.pt.{guid}.tmp", $".ema_0.9999_000020.pt.{guid}.tmp", $".state000020.json.{guid}.tmp", $".progress.csv.{guid}.tmp", $".loss.png.{guid}.tmp"];
        string[] others =
        [
            $".notes.txt.{guid}.tmp", $".model000020.pt.{guid[..31]}.tmp", $".model000020.pt.{guid.ToUpperInvariant()}.tmp", "model000020.pt.tmp",
            $"model000020.pt.{guid}.tmp", "model000010.pt", "notes.txt",
        ];
        foreach (var name in ours.Concat(others)) File.WriteAllText(Path.Combine(run, name), name);

        var deleted = TrainingCheckpoint.DeleteInterruptedSaves(run);

        Assert.Equal(ours.Order(StringComparer.Ordinal), deleted);
        Assert.Equal(others.Order(StringComparer.Ordinal), Directory.GetFiles(run).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(TrainingCheckpoint.DeleteInterruptedSaves(Run("no such folder")));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(2)]
    public void The_first_row_after_a_resume_times_the_steps_run_since_the_resume(int microbatch)
    {
        // Rows every 2 steps, a checkpoint after 3: the resumed run's first row comes after one step. Its samples/s
        // must be that step's examples over that step's time, not over the moment between the step's end and the row.
        var options = Options with { BatchSize = 8, Microbatch = microbatch, LogInterval = 2, SaveInterval = 3, MaxSteps = 3 };
        using (var network = ToyNet())
        using (var loop = new TrainLoop(network, ShortDiffusion(), options, Run($"throughput{microbatch}"), Batches(Dataset(8, 1), 8)))
        {
            loop.Run();
        }

        var clock = Stopwatch.StartNew();
        var handedOut = new List<TimeSpan>();
        var stepEnds = new List<TimeSpan>();
        var rowTimes = new List<TimeSpan>();
        var recorder = new RecordingObserver(_ => stepEnds.Add(clock.Elapsed));
        using var resumedNetwork = ToyNet();
        using var resumed = new TrainLoop(resumedNetwork, ShortDiffusion(), options with { MaxSteps = 4 }, Run($"throughput{microbatch}"),
            Timed(Batches(Dataset(8, 1), 8), clock, handedOut), [recorder, new RowClock(clock, rowTimes)]);
        Assert.True(resumed.Resume());
        resumed.Run();

        var row = Assert.Single(recorder.Rows);
        Assert.Equal(3, row.Step);
        var step = (stepEnds.Single() - handedOut.Single()).TotalSeconds; // the step, as seen from outside it
        var stepToRow = (rowTimes.Single() - handedOut.Single()).TotalSeconds;
        output.WriteLine($"samples/s {row.SamplesPerSecond:F0}; 8 examples over the step: {8 / step:F0}, up to the row: {8 / stepToRow:F0}");
        // The row's timer runs within [batch handed out, row written], so it cannot be faster than this...
        Assert.True(row.SamplesPerSecond >= 8 / stepToRow, $"{row.SamplesPerSecond} samples/s is slower than 8 examples in {stepToRow} s");
        // ...and it covers the step's work (all but the moments around it), so it is not much faster than 8 examples
        // over the step (timing from the step's end instead gave about 100 times this).
        Assert.True(row.SamplesPerSecond <= 4 * 8 / step, $"{row.SamplesPerSecond} samples/s for 8 examples in a step of {step} s");
    }

    static Func<long, IEnumerator<TrainingBatch>> Timed(Func<long, IEnumerator<TrainingBatch>> batches, Stopwatch clock, List<TimeSpan> handedOut) =>
        consumed => TimeHandOuts(batches(consumed), clock, handedOut);

    static IEnumerator<TrainingBatch> TimeHandOuts(IEnumerator<TrainingBatch> batches, Stopwatch clock, List<TimeSpan> handedOut)
    {
        using (batches)
        {
            while (batches.MoveNext())
            {
                handedOut.Add(clock.Elapsed);
                yield return batches.Current;
            }
        }
    }

    sealed class RowClock(Stopwatch clock, List<TimeSpan> times) : ITrainingObserver
    {
        public void OnLog(TrainingLogRow row) => times.Add(clock.Elapsed);
    }
}
