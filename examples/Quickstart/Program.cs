// The Quickstart. With no arguments it makes a small dataset, trains Shapes16 (Models.cs) on it for a few minutes and
// draws samples, all through the library (TrainingRun, ImageSampling); run it again and it continues from its last
// checkpoint. With arguments it is the model's generated command-line tool (train, sample, nll, …; --help lists every
// option), which this Main calls like any user's would.
using System.Globalization;
using Examples.Quickstart;
using ImprovedDdpm;

if (args.Length > 0) return Shapes16.Run(args);

const string Folder = "quickstart";
var data = Path.Combine(Folder, "data");
var runFolder = Path.Combine(Folder, "run");
var steps = long.Parse(Environment.GetEnvironmentVariable("QUICKSTART_STEPS") ?? "1200", CultureInfo.InvariantCulture);
var model = Shapes16.Definition;

try
{
    Console.WriteLine($"1/3  Drawing the dataset into {data}/ (3 shapes x 1000 16x16 PNGs)");
    ShapesDataset.Write(data, count: 3000, seed: 1);

    // Resuming continues a run folder that exists and refuses one that does not (a mistyped path is no new run); a new
    // run refuses a folder that holds checkpoints. So: resume from the second time on.
    var resume = Directory.Exists(runFolder);
    Console.WriteLine(resume
        ? $"2/3  Continuing the run in {runFolder}/ up to {steps} steps (progress.csv, loss.png, checkpoints)"
        : $"2/3  Training for {steps} steps into {runFolder}/ (progress.csv, loss.png, checkpoints)");
    TrainingResult trained;
    using (var stop = new CancellationTokenSource())
    using (var run = TrainingRun.Open(model, new TrainingRunOptions(data)
    {
        RunDirectory = runFolder,
        Resume = resume,
        Training = model.Training with { MaxSteps = steps },
    }, [new LossCurveWriter()]))
    {
        if (run.ResumedFrom is { } checkpoint) Console.WriteLine($"     resumed at step {checkpoint.Step}");
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true; // finish the step, save, then stop
            stop.Cancel();
        };
        trained = await run.RunAsync(new ConsoleProgress(model.Training.LogInterval, steps), stop.Token);
        if (trained.Reason == TrainingStopReason.Cancelled) return 0;
    }

    var ema = trained.Checkpoint.Ema[0].Path;
    Console.WriteLine($"3/3  Sampling 64 images with 50 DDIM steps from {Path.GetFileName(ema)}");
    // The declared respacing is "ddim50"; the samples are this program's own output, redrawn on every run.
    var samples = ImageSampling.Run(model, new SampleOptions(ema, NumSamples: 64, BatchSize: 64, UseDdim: true));
    var (_, png) = samples.Save(Path.Combine(Folder, "samples"));

    Console.WriteLine();
    Console.WriteLine($"Done. Look at {png} (samples) and {Path.Combine(runFolder, LossCurveWriter.FileName)} (the loss curve).");
    Console.WriteLine("More: dotnet run --project examples/Quickstart -- --help");
    return 0;
}
catch (Exception error) when (error is ArgumentException or IOException or DataException or TrainingDivergedException)
{
    Console.Error.WriteLine($"error: {error.Message}");
    return 1;
}

/// <summary>A line every logging interval: the step and its loss.</summary>
sealed class ConsoleProgress(int interval, long maxSteps) : IProgress<TrainingStep>
{
    public void Report(TrainingStep step)
    {
        if ((step.Step + 1) % interval == 0)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"     step {step.Step + 1}/{maxSteps}  loss {step.Loss:G4}"));
    }
}
