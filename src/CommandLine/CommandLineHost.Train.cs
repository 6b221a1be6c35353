using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Spectre.Console;

namespace ImprovedDdpm;

public static partial class CommandLineHost
{
    static Command TrainCommand(ModelDefinition model)
    {
        var defaults = model.Training;
        var dataDir = new Option<string>("--data-dir") { Description = "Training images: a folder of jpg/jpeg/png/gif (recursive; class = file name before the first '_'), CIFAR-10's binary batches, or an .npz (arr_0 NHWC uint8, optional labels).", Required = true };
        var runDir = new Option<string?>("--run-dir") { Description = $"Where checkpoints, progress.csv and loss.png go. If omitted, a new folder {TrainingRun.RunsFolder}/{model.Name}-<time> here; with --resume, the newest such folder." };
        var maxSteps = new Option<long?>("--max-steps") { Description = "Stop after this many optimiser steps in total, with a checkpoint. If omitted, run until --lr-anneal-steps, Ctrl+C, SIGTERM or SIGUSR1 (each finishes the step and saves; under mpiexec, send SIGUSR1 to mpiexec)." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --run-dir exactly where its newest complete checkpoint left it (weights, optimizer, EMA, step, data order); --run-dir must exist, and the batch size, microbatch, data and number of processes must be the run's. Without it, a --run-dir that holds checkpoints is refused." };
        var resumeCheckpoint = new Option<string?>("--resume-checkpoint") { Description = "Start from a checkpoint of another run, ours or the reference's modelNNNNNN.pt (with opt/ema files beside it when present), at its step." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Examples per optimiser step and process: under mpiexec -n K the global batch is K times this.", DefaultValueFactory = _ => defaults.BatchSize };
        var microbatch = new Option<int?>("--microbatch") { Description = "Split each batch into microbatches of this size, accumulating gradients; -1 disables.", DefaultValueFactory = _ => defaults.Microbatch };
        var lr = new Option<double?>("--lr") { Description = "AdamW learning rate.", DefaultValueFactory = _ => defaults.Lr };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "AdamW weight decay.", DefaultValueFactory = _ => defaults.WeightDecay };
        var lrAnneal = new Option<long?>("--lr-anneal-steps") { Description = "Anneal the learning rate linearly to 0 over this many steps, then stop; 0 disables.", DefaultValueFactory = _ => defaults.LrAnnealSteps };
        var emaRate = new Option<string?>("--ema-rate") { Description = "Comma-separated EMA rates, one averaged copy of the weights each.", DefaultValueFactory = _ => string.Join(",", defaults.EmaRates.Select(rate => rate.ToString("R", CultureInfo.InvariantCulture))) };
        var sampler = new Option<ScheduleSampler?>("--schedule-sampler") { Description = "How training timesteps are drawn: Uniform or LossSecondMoment.", DefaultValueFactory = _ => defaults.ScheduleSampler };
        var logInterval = new Option<int?>("--log-interval") { Description = "Steps per row of progress.csv and the console.", DefaultValueFactory = _ => defaults.LogInterval };
        var saveInterval = new Option<int?>("--save-interval") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => defaults.SaveInterval };
        var seed = new Option<long>("--seed") { Description = "Seed of every random draw (data order, timesteps, noise, dropout).", DefaultValueFactory = _ => 0 };
        var useCheckpoint = new Option<bool>("--use-checkpoint") { Description = "Gradient checkpointing: recompute each block's activations in the backward pass (less memory, more time; the same results). Also on when the model declares [UNet(Checkpointing = true)]." };
        var device = DeviceOption();
        var command = new Command("train", "Train the model on a dataset (the reference's image_train.py), resumably, with progress and checkpoints.")
        {
            dataDir, runDir, maxSteps, resume, resumeCheckpoint, batchSize, microbatch, lr, weightDecay, lrAnneal, emaRate, sampler,
            logInterval, saveInterval, seed, useCheckpoint, device,
        };
        command.SetAction(result => Guarded(() =>
        {
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
            return Train(model, new TrainingRunOptions(result.GetValue(dataDir)!)
            {
                RunDirectory = result.GetValue(runDir),
                Resume = result.GetValue(resume),
                ResumeCheckpoint = result.GetValue(resumeCheckpoint),
                Training = options,
                Device = result.GetValue(device),
                UseCheckpoint = result.GetValue(useCheckpoint) ? true : null,
            });
        }));
        return command;
    }

    /// <summary>
    /// The library's training run under the live display, stopped (with a checkpoint) by Ctrl+C, SIGTERM or SIGUSR1.
    /// Under mpiexec the ranks decide together to stop after the same step (<see cref="TrainLoop"/>). SIGUSR1 is for
    /// mpiexec: Open MPI forwards it to every rank at once, while on SIGTERM or Ctrl+C it sends the ranks SIGTERM only
    /// after <c>odls_base_sigkill_timeout</c> seconds (1 by default) and kills them as long again later.
    /// </summary>
    static int Train(ModelDefinition model, TrainingRunOptions options)
    {
        var console = AnsiConsole.Console;
        using var display = new TrainingConsole(console, model.Name, (options.Training ?? model.Training).MaxSteps);
        using var run = TrainingRun.Open(model, options, [display, new LossCurveWriter()]);
        if (run.RemovedTemporaryFiles is { Count: > 0 } removed)
            console.WriteLine($"Removed {removed.Count} temporary file{(removed.Count > 1 ? "s" : "")} of an interrupted save from {run.RunDirectory}: {string.Join(", ", removed)}");
        if (run.ResumeFoundNoCheckpoint) WriteWarning($"{run.RunDirectory} holds no checkpoint yet: starting from step 0.");
        foreach (var skipped in run.SkippedCheckpoints)
        {
            WriteWarning(string.Create(CultureInfo.InvariantCulture,
                $"checkpoint step {skipped.Step} cannot be used ({skipped.Reason}); resumed from step {run.Step} instead, and step {skipped.Step}'s files will be written anew when the run gets there."));
        }

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCtrlC = (_, e) =>
        {
            e.Cancel = true; // finish the step, save, then exit
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCtrlC;
        Action<PosixSignalContext> onSignal = context =>
        {
            context.Cancel = true;
            cancellation.Cancel();
        };
        using var onSigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, onSignal);
        using var onSigusr1 = UserSignal1 is { } sigusr1 ? PosixSignalRegistration.Create(sigusr1, onSignal) : null;
        try
        {
            var outcome = display.Run(() => run.Run(cancellation.Token));
            console.WriteLine($"{Describe(outcome.Reason)} after step {outcome.Step}; checkpoint {outcome.Checkpoint.ModelPath}");
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCtrlC;
        }
    }

    /// <summary>SIGUSR1's number where it is known (Linux 10; macOS and the BSDs 30); .NET takes raw numbers on Unix.</summary>
    static PosixSignal? UserSignal1 =>
        OperatingSystem.IsLinux() ? (PosixSignal)10
        : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? (PosixSignal)30
        : null;

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
