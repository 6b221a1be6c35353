using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using Spectre.Console;
using Xunit.Abstractions;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// <c>train</c> never overwrites or loses a run's files: a new run refuses a folder with checkpoints, <c>--resume</c>
/// refuses a folder that is not there, one with nothing usable, or other inputs, and says so on stderr when it falls
/// back past a checkpoint it cannot use.
/// </summary>
[Collection(GlobalRandomState.Name)]
public sealed class TrainResumeSafetyTests(ITestOutputHelper output) : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-resume-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    string Data(int count = 16) => TrainingImages.Write(Path.Combine(folder, $"data{count}"), count, size: 8, classes: 3);

    /// <summary>A run of 4 steps of batch 4 with checkpoints at steps 2 and 4; returns its folder.</summary>
    string TrainedRun(string name, string data)
    {
        var run = Path.Combine(folder, name);
        var (code, _, errors) = Train("--data-dir", data, "--run-dir", run, "--max-steps", "4", "--batch-size", "4", "--save-interval", "2", "--log-interval", "1");
        Assert.True(code == 0, errors);
        return run;
    }

    /// <summary>
    /// Runs <c>train</c> in-process, as <see cref="ToolRunner"/> does but with stderr captured apart and lines not wrapped
    /// (paths in messages stay whole); returns the exit code, stdout and stderr. This class runs alone (its collection
    /// is not parallel), so swapping the process-wide consoles here races with no other test.
    /// </summary>
    (int Code, string Output, string Errors) Train(params string[] args)
    {
        var (previousConsole, previousError) = (AnsiConsole.Console, Console.Error);
        var (text, errors) = (new StringWriter(), new StringWriter());
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(text), Interactive = InteractionSupport.No });
        AnsiConsole.Console.Profile.Width = 100_000;
        Console.SetError(errors);
        try
        {
            var code = CommandLineHost.Run(TinyFixed.Definition, ["train", .. args]);
            output.WriteLine($"train {string.Join(' ', args)}\nexit {code}\n{text}\nstderr: {errors}");
            return (code, text.ToString(), errors.ToString());
        }
        finally
        {
            AnsiConsole.Console = previousConsole;
            Console.SetError(previousError);
        }
    }

    /// <summary>Runs <c>train</c> expecting a refusal: the exit code, and stdout and stderr together (wherever the error goes).</summary>
    (int Code, string Text, string Errors) Refused(params string[] args)
    {
        var (code, text, errors) = Train(args);
        return (code, text + errors, errors);
    }

    static Dictionary<string, byte[]> Contents(string run) => Directory.GetFiles(run).ToDictionary(f => f, File.ReadAllBytes);

    static void AssertUnchanged(Dictionary<string, byte[]> before, string run)
    {
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(run).Order(StringComparer.Ordinal));
        foreach (var (file, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(file)), $"{file} changed");
    }

    [Fact]
    public void A_run_whose_state_files_are_all_unreadable_is_refused_by_resume_and_by_a_new_run_and_kept_whole()
    {
        var data = Data();
        var run = TrainedRun("unreadable", data);
        foreach (var state in Directory.GetFiles(run, "state*.json")) File.WriteAllText(state, "garbage");
        var before = Contents(run);
        string[] common = ["--data-dir", data, "--run-dir", run, "--max-steps", "6", "--batch-size", "4", "--save-interval", "2"];

        // Twice: the second resume used to overwrite what the first had started again from step 0.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var (code, text, _) = Refused([.. common, "--resume"]);
            Assert.Equal(1, code);
            Assert.Contains(Path.Combine(run, "state000004.json"), text);
            Assert.Contains(Path.Combine(run, "state000002.json"), text);
            Assert.Contains("none can be resumed", text);
        }
        var (freshCode, freshText, _) = Refused(common);
        Assert.Equal(1, freshCode);
        Assert.Contains($"{run} already holds files of a run (ema_0.9999_000002.pt", freshText);
        Assert.Contains("--resume", freshText);
        AssertUnchanged(before, run);
    }

    [Fact]
    public void An_unreadable_newest_state_file_is_named_on_stderr_with_the_step_resumed_from()
    {
        var data = Data();
        var run = TrainedRun("newest-unreadable", data);
        var unreadable = Path.Combine(run, "state000004.json");
        File.WriteAllText(unreadable, "{");

        var (code, text, errors) = Train("--data-dir", data, "--run-dir", run, "--max-steps", "5", "--batch-size", "4", "--save-interval", "2", "--resume");

        Assert.True(code == 0, text + errors);
        Assert.Contains("resumed from step 2", text);
        Assert.Contains("warning: checkpoint step 4 cannot be used", errors);
        Assert.Contains(unreadable, errors);
        Assert.Contains("resumed from step 2 instead", errors);
        Assert.DoesNotContain("warning", text);
        Assert.Equal(5, TrainingCheckpoint.FindLatest(run)!.Step);
    }

    [Fact]
    public void Resume_of_a_run_folder_that_does_not_exist_is_an_error_naming_it()
    {
        var typo = Path.Combine(folder, "no-such-run");
        var (code, text, _) = Refused("--data-dir", Data(), "--run-dir", typo, "--max-steps", "2", "--batch-size", "4", "--resume");
        Assert.Equal(1, code);
        Assert.Contains($"--run-dir {typo} does not exist", text);
        Assert.False(Directory.Exists(typo));
    }

    [Fact]
    public void Resume_with_another_batch_size_or_data_set_is_refused_saying_what_differs()
    {
        var data = Data();
        var run = TrainedRun("inputs", data);
        var before = Contents(run);
        var otherData = Data(count: 20);

        var (code, text, _) = Refused("--data-dir", data, "--run-dir", run, "--max-steps", "6", "--batch-size", "8", "--resume");
        Assert.Equal(1, code);
        Assert.Contains("--batch-size: the run's is 4, now 8", text);

        (code, text, _) = Refused("--data-dir", otherData, "--run-dir", run, "--max-steps", "6", "--batch-size", "4", "--resume");
        Assert.Equal(1, code);
        Assert.Contains($"--data-dir: the run trained on 16 examples ({data}), {otherData} holds 20", text);

        // As many examples in other files: renamed, so the data order and labels would differ.
        var renamed = Path.Combine(folder, "renamed");
        Directory.CreateDirectory(renamed);
        foreach (var file in Directory.GetFiles(data)) File.Copy(file, Path.Combine(renamed, "x" + Path.GetFileName(file)));
        (code, text, _) = Refused("--data-dir", renamed, "--run-dir", run, "--max-steps", "6", "--batch-size", "4", "--resume");
        Assert.Equal(1, code);
        Assert.Contains("other files", text);
        AssertUnchanged(before, run);

        // The same files in another place are the same data.
        var moved = Path.Combine(folder, "moved");
        Directory.Move(data, moved);
        (code, text, _) = Train("--data-dir", moved, "--run-dir", run, "--max-steps", "5", "--batch-size", "4", "--save-interval", "2", "--resume");
        Assert.True(code == 0, text);
    }

    [Fact]
    public void A_new_run_refuses_a_folder_with_only_checkpoint_files_of_an_unfinished_save()
    {
        var run = Directory.CreateDirectory(Path.Combine(folder, "orphan")).FullName;
        File.WriteAllText(Path.Combine(run, "model000100.pt"), "weights of a save that never completed");
        var before = Contents(run);

        var (code, text, _) = Refused("--data-dir", Data(), "--run-dir", run, "--max-steps", "2", "--batch-size", "4");
        Assert.Equal(1, code);
        Assert.Contains($"{run} already holds files of a run (model000100.pt)", text);

        (code, text, _) = Refused("--data-dir", Data(), "--run-dir", run, "--max-steps", "2", "--batch-size", "4", "--resume");
        Assert.Equal(1, code);
        Assert.Contains("model000100.pt", text);
        Assert.Contains("no state*.json", text);
        AssertUnchanged(before, run);
    }

    [Fact]
    public void Temporary_files_of_an_interrupted_save_are_removed_when_the_run_resumes()
    {
        var data = Data();
        var run = TrainedRun("temporaries", data);
        var temporary = Path.Combine(run, $".model000006.pt.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(temporary, "half a checkpoint");
        var notOurs = Path.Combine(run, "notes.tmp");
        File.WriteAllText(notOurs, "the user's");

        var (code, text, _) = Train("--data-dir", data, "--run-dir", run, "--max-steps", "5", "--batch-size", "4", "--save-interval", "2", "--resume");

        Assert.True(code == 0, text);
        Assert.Contains($"Removed 1 temporary file of an interrupted save from {run}: {Path.GetFileName(temporary)}", text);
        Assert.False(File.Exists(temporary));
        Assert.True(File.Exists(notOurs));
    }
}
