// The Quickstart. With no arguments it makes a small dataset, trains Shapes16 (Models.cs) on it for a few minutes and
// draws samples; run it again and it continues from its last checkpoint. With arguments it is the model's generated
// command-line tool (train, sample, nll, info; --help lists every option), which this Main calls like any user's would.
using Examples.Quickstart;

if (args.Length > 0) return Shapes16.Run(args);

const string Folder = "quickstart";
var data = Path.Combine(Folder, "data");
var run = Path.Combine(Folder, "run");
var steps = Environment.GetEnvironmentVariable("QUICKSTART_STEPS") ?? "1200";

Console.WriteLine($"1/3  Drawing the dataset into {data}/ (3 shapes x 1000 16x16 PNGs)");
ShapesDataset.Write(data, count: 3000, seed: 1);

// --resume continues a run folder that exists and refuses one that does not (a mistyped path is no new run); a new
// run refuses a folder that holds checkpoints. So: resume from the second time on.
var resume = Directory.Exists(run);
Console.WriteLine(resume
    ? $"2/3  Continuing the run in {run}/ up to {steps} steps (progress.csv, loss.png, checkpoints)"
    : $"2/3  Training for {steps} steps into {run}/ (progress.csv, loss.png, checkpoints)");
var code = Shapes16.Run(["train", "--data-dir", data, "--run-dir", run, "--max-steps", steps, .. resume ? ["--resume"] : Array.Empty<string>()]);
if (code != 0) return code;

var ema = Directory.GetFiles(run, "ema_*.pt").OrderBy(f => f, StringComparer.Ordinal).Last();
var samples = Path.Combine(Folder, "samples");
Console.WriteLine($"3/3  Sampling 64 images with 50 DDIM steps from {Path.GetFileName(ema)}");
// The samples are this program's own output, redrawn on every run: replacing them is asked for.
code = Shapes16.Run(["sample", "--model-path", ema, "--num-samples", "64", "--batch-size", "64", "--use-ddim", "--output", samples, "--overwrite"]);
if (code != 0) return code;

Console.WriteLine();
Console.WriteLine($"Done. Look at {samples}.png (samples) and {Path.Combine(run, "loss.png")} (the loss curve).");
Console.WriteLine("More: dotnet run --project examples/Quickstart -- --help");
return 0;
