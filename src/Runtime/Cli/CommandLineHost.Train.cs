using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Spectre.Console;
using TorchSharp;

namespace ImprovedDdpm;

public static partial class CommandLineHost
{
    /// <summary>The folder under the current directory that holds runs made without <c>--run-dir</c>.</summary>
    public const string RunsFolder = "runs";

    static Command TrainCommand(ModelDefinition model)
    {
        var defaults = model.Training;
        var dataDir = new Option<string>("--data-dir") { Description = "Training images: a folder of jpg/jpeg/png/gif (recursive; class = file name before the first '_'), CIFAR-10's binary batches, or an .npz (arr_0 NHWC uint8, optional labels).", Required = true };
        var runDir = new Option<string?>("--run-dir") { Description = $"Where checkpoints, progress.csv and loss.png go. If omitted, a new folder {RunsFolder}/{model.Name}-<time> here; with --resume, the newest such folder." };
        var maxSteps = new Option<long?>("--max-steps") { Description = "Stop after this many optimiser steps in total, with a checkpoint. If omitted, run until --lr-anneal-steps or Ctrl+C (which also saves)." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --run-dir exactly where its newest complete checkpoint left it (weights, optimizer, EMA, step, data order); --run-dir must exist, and the batch size, microbatch and data must be the run's. Without it, a --run-dir that holds checkpoints is refused." };
        var resumeCheckpoint = new Option<string?>("--resume-checkpoint") { Description = "Start from a checkpoint of another run, ours or the reference's modelNNNNNN.pt (with opt/ema files beside it when present), at its step." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Examples per optimiser step.", DefaultValueFactory = _ => defaults.BatchSize };
        var microbatch = new Option<int?>("--microbatch") { Description = "Split each batch into microbatches of this size, accumulating gradients; -1 disables.", DefaultValueFactory = _ => defaults.Microbatch };
        var lr = new Option<double?>("--lr") { Description = "AdamW learning rate.", DefaultValueFactory = _ => defaults.Lr };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "AdamW weight decay.", DefaultValueFactory = _ => defaults.WeightDecay };
        var lrAnneal = new Option<long?>("--lr-anneal-steps") { Description = "Anneal the learning rate linearly to 0 over this many steps, then stop; 0 disables.", DefaultValueFactory = _ => defaults.LrAnnealSteps };
        var emaRate = new Option<string?>("--ema-rate") { Description = "Comma-separated EMA rates, one averaged copy of the weights each.", DefaultValueFactory = _ => string.Join(",", defaults.EmaRates.Select(rate => rate.ToString("R", CultureInfo.InvariantCulture))) };
        var sampler = new Option<ScheduleSampler?>("--schedule-sampler") { Description = "How training timesteps are drawn: Uniform or LossSecondMoment.", DefaultValueFactory = _ => defaults.ScheduleSampler };
        var logInterval = new Option<int?>("--log-interval") { Description = "Steps per row of progress.csv and the console.", DefaultValueFactory = _ => defaults.LogInterval };
        var saveInterval = new Option<int?>("--save-interval") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => defaults.SaveInterval };
        var seed = new Option<long>("--seed") { Description = "Seed of every random draw (data order, timesteps, noise, dropout).", DefaultValueFactory = _ => 0 };
        var device = DeviceOption();
        var command = new Command("train", "Train the model on a dataset (the reference's image_train.py), resumably, with progress and checkpoints.")
        {
            dataDir, runDir, maxSteps, resume, resumeCheckpoint, batchSize, microbatch, lr, weightDecay, lrAnneal, emaRate, sampler,
            logInterval, saveInterval, seed, device,
        };
        command.SetAction(result => Guarded(() =>
        {
            if (result.GetValue(resume) && result.GetValue(resumeCheckpoint) is not null)
                throw new ArgumentException("--resume continues --run-dir's own checkpoints and --resume-checkpoint starts from another run's: give one of them");
            var options = defaults with
            {
                BatchSize = result.GetValue(batchSize) ?? defaults.BatchSize,
                Microbatch = result.GetValue(microbatch) ?? defaults.Microbatch,
                Lr = result.GetValue(lr) ?? defaults.Lr,
                WeightDecay = result.GetValue(weightDecay) ?? defaults.WeightDecay,
                LrAnnealSteps = result.GetValue(lrAnneal) ?? defaults.LrAnnealSteps,
                EmaRates = result.GetValue(emaRate) is { } rates ? ParseEmaRatesOption(rates) : defaults.EmaRates,
                ScheduleSampler = result.GetValue(sampler) ?? defaults.ScheduleSampler,
                LogInterval = result.GetValue(logInterval) ?? defaults.LogInterval,
                SaveInterval = result.GetValue(saveInterval) ?? defaults.SaveInterval,
                MaxSteps = result.GetValue(maxSteps),
                Seed = result.GetValue(seed),
            };
            return Train(model, new TrainCommandOptions(result.GetValue(dataDir)!, result.GetValue(runDir), result.GetValue(resume),
                result.GetValue(resumeCheckpoint), options, result.GetValue(device)!));
        }));
        return command;
    }

    sealed record TrainCommandOptions(string DataDir, string? RunDir, bool Resume, string? ResumeCheckpoint, TrainingOptions Training, string Device);

    static int Train(ModelDefinition model, TrainCommandOptions command)
    {
        var console = AnsiConsole.Console;
        var options = command.Training;
        options.Validate();
        if (command.RunDir is not null) OutputFiles.CheckIsNoFile("--run-dir", command.RunDir);
        var device = torch.device(command.Device);
        var dataset = ImageDatasets.Open(command.DataDir, model.ImageSize, model.ClassConditional, model.ClassConditional ? model.NumClasses : null);
        if (dataset.Channels != model.Channels)
            throw new DataException(dataset.Source, $"{dataset.Source} gives {dataset.Channels}-channel images; {model.Name} takes {model.Channels} channels");
        var runDirectory = ChooseRunDirectory(model, command.RunDir, command.Resume);
        if (!command.Resume) RefuseToOverwrite(runDirectory);
        var removed = TrainingCheckpoint.DeleteInterruptedSaves(runDirectory);
        if (removed.Count > 0)
            console.WriteLine($"Removed {removed.Count} temporary file{(removed.Count > 1 ? "s" : "")} of an interrupted save from {runDirectory}: {string.Join(", ", removed)}");

        torch.random.manual_seed(options.Seed); // the initial weights, so that the seed fixes the whole run
        using var network = model.CreateNetwork();
        if (device.type != DeviceType.CPU) network.to(device);
        var diffusion = model.CreateDiffusion(""); // training uses every step; a declared respacing is for sampling
        using var display = new TrainingConsole(console, model.Name, options.MaxSteps);
        using var loop = new TrainLoop(network, diffusion, options, runDirectory,
            consumed => Batches(new TrainingDataLoader(dataset, options.BatchSize, options.Seed, device, startBatch: consumed)),
            [display, new LossCurveWriter(Path.Combine(runDirectory, LossCurveWriter.FileName))])
        {
            Inputs = RunInputs.Of(model.Name, dataset, options),
        };

        if (command.Resume)
        {
            if (!loop.Resume())
                WriteWarning($"{runDirectory} holds no checkpoint yet: starting from step 0.");
            foreach (var skipped in loop.SkippedOnResume)
            {
                WriteWarning(string.Create(CultureInfo.InvariantCulture,
                    $"checkpoint step {skipped.Step} cannot be used ({skipped.Reason}); resumed from step {loop.Step} instead, and step {skipped.Step}'s files will be written anew when the run gets there."));
            }
        }
        if (command.ResumeCheckpoint is { } start) loop.StartFrom(start);

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCtrlC = (_, e) =>
        {
            e.Cancel = true; // finish the step, save, then exit
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCtrlC;
        using var onSigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cancellation.Cancel();
        });
        try
        {
            var outcome = display.Run(() => loop.Run(cancellation.Token));
            console.WriteLine($"{Describe(outcome.Reason)} after step {outcome.Step}; checkpoint {outcome.Checkpoint.ModelPath}");
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCtrlC;
        }
    }

    /// <summary>
    /// The given run folder (which must exist to be resumed: a mistyped one is not a new run); or a new one under
    /// <see cref="RunsFolder"/>; or, to resume, the newest one there that holds checkpoint files.
    /// </summary>
    static string ChooseRunDirectory(ModelDefinition model, string? runDir, bool resume)
    {
        if (runDir is not null)
        {
            var folder = Path.GetFullPath(runDir);
            if (resume && !Directory.Exists(folder))
            {
                throw new ArgumentException(File.Exists(folder)
                    ? $"--run-dir {folder} is a file, not a run folder"
                    : $"--run-dir {folder} does not exist, so there is no run to resume: check the path, or leave out --resume to start a new run there");
            }
            return folder;
        }
        var runs = Path.GetFullPath(RunsFolder);
        if (resume)
        {
            // Any checkpoint file counts, usable or not: the newest run is the one to resume, or to be told about.
            var newest = Directory.Exists(runs)
                ? Directory.EnumerateDirectories(runs, model.Name + "-*").Where(d => TrainingCheckpoint.CheckpointFiles(d).Count > 0).Order(StringComparer.Ordinal).LastOrDefault()
                : null;
            return newest ?? throw new ArgumentException($"--resume without --run-dir continues the newest run in {runs}, but it holds no {model.Name} run with a checkpoint");
        }
        return Path.Combine(runs, $"{model.Name}-{DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
    }

    /// <summary>
    /// Refuses to start a new run in a folder that holds another run's checkpoints or log: it would overwrite them
    /// (checkpoints of the same steps, <c>loss.png</c>) or mix with them (<c>progress.csv</c>).
    /// </summary>
    static void RefuseToOverwrite(string runDirectory)
    {
        var files = TrainingCheckpoint.CheckpointFiles(runDirectory)
            .Concat(new[] { TrainLoop.ProgressFileName, LossCurveWriter.FileName }.Select(name => Path.Combine(runDirectory, name)).Where(File.Exists))
            .Select(Path.GetFileName)
            .ToList();
        if (files.Count == 0) return;
        var what = TrainingCheckpoint.FindLatest(runDirectory) is { } latest
            ? string.Create(CultureInfo.InvariantCulture, $"a checkpoint (step {latest.Step})")
            : $"files of a run ({string.Join(", ", files.Take(3))}{(files.Count > 3 ? ", …" : "")})";
        throw new ArgumentException($"{runDirectory} already holds {what}, which a new run would overwrite; pass --resume to continue that run, or choose another --run-dir");
    }

    static IEnumerator<TrainingBatch> Batches(TrainingDataLoader loader)
    {
        using (loader)
        {
            while (true) yield return loader.Next();
        }
    }

    static IReadOnlyList<double> ParseEmaRatesOption(string rates)
    {
        try
        {
            return TrainingOptions.ParseEmaRates(rates);
        }
        catch (FormatException error)
        {
            throw new ArgumentException($"--ema-rate: {error.Message}", error);
        }
    }

    static string Describe(TrainingStopReason reason) => reason switch
    {
        TrainingStopReason.MaxSteps => "Reached --max-steps",
        TrainingStopReason.Annealed => "The learning rate annealed to 0",
        TrainingStopReason.Cancelled => "Stopped on request",
        _ => "The data ran out",
    };
}
