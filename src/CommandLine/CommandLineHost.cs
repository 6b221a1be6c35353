using System.CommandLine;
using System.CommandLine.Invocation;
using TorchSharp;
using System.Globalization;
using Spectre.Console;

namespace ImprovedDdpm;

/// <summary>
/// The command-line tool a model's project becomes (the reference's <c>image_train.py</c>, <c>image_sample.py</c> and
/// <c>image_nll.py</c> in one program). The generator's <c>M.Run(args)</c> calls <see cref="Run(ModelDefinition, string[])"/>.
/// </summary>
public static partial class CommandLineHost
{
    /// <summary>
    /// Parses <paramref name="args"/>, runs the command and returns the process exit code. Results and progress go to
    /// <see cref="AnsiConsole.Console"/>; errors and warnings to standard error.
    /// </summary>
    /// <remarks>
    /// Under <c>mpiexec -n K</c> every rank runs the command as one job (<see cref="Communicators.FromEnvironment"/>):
    /// rank 0 prints and writes; the others print only errors and warnings, each line prefixed with its rank; a rank
    /// that fails ends the whole job (<see cref="Communicators.Run"/>), naming itself. A plain run loads no MPI library.
    /// </remarks>
    public static int Run(ModelDefinition model, string[] args)
    {
        ICommunicator communicator;
        try
        {
            communicator = Communicators.FromEnvironment();
        }
        catch (MpiLibraryException error)
        {
            // Under a launcher whose MPI library does not load: say which library was looked for, and stop this rank.
            WriteError(error.Message);
            return 1;
        }
        if (communicator.Size == 1) return Run(model, args, Console.Error);
        RankPrefix = $"rank {communicator.Rank} of {communicator.Size}: ";
        if (!communicator.IsRoot)
        {
            // The results and the live display are rank 0's; the other ranks would repeat them K − 1 times.
            Console.SetOut(TextWriter.Null);
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null), Interactive = InteractionSupport.No });
        }
        // Commands that do not split their work across ranks run on rank 0 alone; the others wait for it to finish.
        var rootOnly = !communicator.IsRoot && !RankSplitCommands.Contains(args.FirstOrDefault() ?? "");
        return Communicators.Run(_ => rootOnly ? 0 : Run(model, args, Console.Error));
    }

    /// <summary>Commands whose library call takes the communicator and shares the work between the ranks.</summary>
    static readonly HashSet<string> RankSplitCommands = new(StringComparer.Ordinal) { "train", "sample", "nll", "evaluate" };

    /// <summary>As <see cref="Run(ModelDefinition, string[])"/>, with errors and warnings (parse errors included) written to <paramref name="error"/>.</summary>
    public static int Run(ModelDefinition model, string[] args, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var root = new RootCommand($"{model.Name}: Improved DDPM (Nichol & Dhariwal 2021), compiled from its attributes.");
        root.Subcommands.Add(TrainCommand(model));
        root.Subcommands.Add(InfoCommand(model));
        root.Subcommands.Add(SampleCommand(model));
        root.Subcommands.Add(MergeCommand());
        root.Subcommands.Add(NllCommand(model));
        root.Subcommands.Add(EvaluateCommand());
        root.Subcommands.Add(ReportCommand(model));
        MakeParseErrorsReadable(root);

        var parsed = root.Parse(args);
        var previous = ErrorConsole.Value;
        ErrorConsole.Value = CreateErrorConsole(error);
        try
        {
            if (parsed.Action is ParseErrorAction)
            {
                // Printed like every other error (System.CommandLine's own action prints bare messages, then the whole
                // help, which buries them and lands on standard output); the help is one flag away.
                foreach (var parseError in parsed.Errors) WriteError(parseError.Message);
                var command = parsed.CommandResult.Command;
                Errors.WriteLine($"See '{(command is RootCommand ? root.Name : $"{root.Name} {command.Name}")} --help' for the options.");
                return 1;
            }
            // Help goes where the rest of the output goes.
            return parsed.Invoke(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                Output = AnsiConsole.Console.Profile.Out.Writer,
                Error = error,
            });
        }
        finally
        {
            ErrorConsole.Value = previous;
        }
    }

    /// <summary>Runs a command body, turning the errors bad input causes into one red line on standard error naming the culprit, and exit code 1.</summary>
    static int Guarded(Func<int> body)
    {
        try
        {
            LibTorchLog.Configure();
            return body();
        }
        catch (Exception error) when (error is ArgumentException or IOException or CheckpointMismatchException or UnauthorizedAccessException
            or InvalidDataException or DataException or TrainingDivergedException)
        {
            WriteError(Describe(error));
            return 1;
        }
    }

    static Command InfoCommand(ModelDefinition model)
    {
        var respacing = new Option<string?>("--timestep-respacing") { Description = "Show the process respaced like this (\"250\", \"ddim50\"). If omitted, the declared one." };
        var command = new Command("info", "Print the configuration, the parameter count and a summary of the noise schedule.") { respacing };
        command.SetAction(result => Guarded(() =>
        {
            var diffusion = model.CreateDiffusion(result.GetValue(respacing));
            var console = AnsiConsole.Console;
            foreach (var line in model.Summary) console.WriteLine(line);
            console.WriteLine();
            var table = new Spectre.Console.Table().AddColumn("t").AddColumn("beta_t").AddColumn("alpha_bar_t").AddColumn("sqrt(1 - alpha_bar_t)").AddColumn("original t");
            var n = diffusion.NumTimesteps;
            foreach (var t in new[] { 0, 1, n / 4, n / 2, 3 * n / 4, n - 2, n - 1 }.Distinct().Where(t => t >= 0 && t < n))
            {
                table.AddRow(Text(t), Text(diffusion.Tables.Betas[t]), Text(diffusion.Tables.AlphasCumprod[t]),
                    Text(diffusion.Tables.SqrtOneMinusAlphasCumprod[t]), Text(diffusion.TimestepMap[t]));
            }
            console.Write(table);
            console.WriteLine($"{n} sampling steps of {diffusion.OriginalNumTimesteps}; {diffusion.MeanType} prediction, {diffusion.VarType} variance, {diffusion.LossType} loss.");
            // Built, not just counted at compile time: this also proves TorchSharp's native library loads here.
            using var network = model.CreateNetwork();
            var built = network.parameters().Sum(p => p.numel());
            console.WriteLine($"Parameters: {built.ToString("N0", CultureInfo.InvariantCulture)}" +
                (built == model.ParameterCount ? "" : $" (the compile-time count was {model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture)})"));
            return 0;
        }));
        return command;
    }

    static Command SampleCommand(ModelDefinition model)
    {
        var modelPath = ModelPathOption("sample with");
        var numSamples = new Option<int?>("--num-samples") { Description = "How many images to make. If omitted, 10000; with --base-samples, one per base sample." };
        var batchSize = new Option<int>("--batch-size") { Description = "Images per batch.", DefaultValueFactory = _ => 16 };
        var baseSamples = new Option<string?>("--base-samples")
        {
            Description = model.SuperResolution
                ? $"Required: the .npz of {model.SmallSize}x{model.SmallSize} samples to upsample (`sample` of the low-resolution model; arr_1 labels when class-conditional), one sample per base sample, in order."
                : "Super-resolution models only: the low-resolution samples to upsample.",
        };
        var respacing = new Option<string?>("--timestep-respacing") { Description = "Sampling steps: \"250\", \"10,15,20\" or \"ddim50\". If omitted, the declared respacing (all steps if none)." };
        var useDdim = new Option<bool>("--use-ddim") { Description = "DDIM instead of ancestral sampling." };
        var eta = new Option<double>("--eta") { Description = "DDIM's eta: 0 is deterministic, 1 matches ancestral sampling's variance.", DefaultValueFactory = _ => 0.0 };
        var sampler = new Option<SamplerKind?>("--sampler")
        {
            Description = $"A solver instead of the reference's loops: {string.Join(", ", DiffusionSamplers.AllNames)}. dpm-solver++-2m at 20 steps " +
                "lands closer to the exact ODE endpoint than DDIM at 50. Replaces --timestep-respacing, --use-ddim and --eta.",
            CustomParser = result =>
            {
                var name = result.Tokens[^1].Value;
                if (DiffusionSamplers.FromName(name) is { } kind) return kind;
                result.AddError($"--sampler: '{name}' is not one of {string.Join(", ", DiffusionSamplers.AllNames)}");
                return null;
            },
        };
        var steps = new Option<int?>("--steps") { Description = $"With --sampler: its steps (Heun evaluates the network 2·steps − 2 times). If omitted, {DiffusionSamplers.DefaultSteps}." };
        var (clip, noClip) = ClipOptions();
        var classLabel = new Option<int?>("--class") { Description = "Class-conditional models: sample this class only. If omitted, classes are drawn at random." };
        var seed = new Option<long>("--seed") { Description = "Seed of the noise; batch b is seeded by (seed, b) alone.", DefaultValueFactory = _ => 0 };
        var shard = new Option<int>("--shard") { Description = "Make only this part of the batches (0-based); merge the parts with `merge`.", DefaultValueFactory = _ => 0 };
        var numShards = new Option<int>("--num-shards") { Description = "Into how many disjoint parts the batches are split.", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--output")
        {
            Description = "Where the samples go: O.npz (arr_0 NHWC uint8, arr_1 labels) and O.png for a path O (a trailing .npz is dropped); " +
                "an existing folder, or a path ending in /, gets the default name inside it. If omitted, samples_NxHxWxC[_shardIofN] in the current folder.",
        };
        var overwrite = OverwriteOption();
        var device = DeviceOption();
        var command = new Command("sample", "Draw images from a trained model (the reference's image_sample.py).")
        {
            modelPath, numSamples, batchSize, baseSamples, respacing, useDdim, eta, sampler, steps, clip, noClip, classLabel, seed, shard, numShards, output, overwrite, device,
        };
        command.SetAction(result => Guarded(() =>
        {
            var baseFile = result.GetValue(baseSamples);
            // Upsampling takes every base sample unless told otherwise; the count comes from the file.
            var requested = result.GetValue(numSamples) ?? (baseFile is null ? 10000 : int.MaxValue);
            var options = new SampleOptions(result.GetValue(modelPath)!, requested, result.GetValue(batchSize),
                result.GetValue(respacing), result.GetValue(useDdim), result.GetValue(eta), ClipDenoised(result, clip, noClip), result.GetValue(classLabel),
                result.GetValue(seed), result.GetValue(shard), result.GetValue(numShards), result.GetValue(device), result.GetValue(sampler), result.GetValue(steps),
                baseFile);
            var total = ImageSampling.SampleCount(model, options);
            var (firstBatch, batches) = ImageSampling.ShardBatches(total, options.BatchSize, options.Shard, options.NumShards);
            var count = Math.Min(total, (firstBatch + batches) * options.BatchSize) - (firstBatch * options.BatchSize);
            var name = SampleFilesBase(result.GetValue(output), $"samples_{count}x{model.ImageSize}x{model.ImageSize}x{model.Channels}" +
                (options.NumShards > 1 ? $"_shard{options.Shard}of{options.NumShards}" : ""));
            var processes = Communicators.FromEnvironment();
            if (processes.IsRoot) OutputFiles.Check("--output", result.GetValue(overwrite), name + ".npz", name + ".png");
            SampleSet samples = null!;
            AnsiConsole.Progress().Start(context =>
            {
                var task = context.AddTask($"sampling {total} with {Path.GetFileName(options.ModelPath)}");
                samples = ImageSampling.Run(model, options, new Progress<(int Done, int Total)>(p =>
                {
                    task.MaxValue = p.Total;
                    task.Value = p.Done;
                }));
            });
            if (!processes.IsRoot) return 0; // every rank holds the samples; rank 0 writes them
            var (npz, png) = samples.Save(name);
            AnsiConsole.Console.WriteLine($"wrote {samples.Count} samples to {npz} and {png}");
            return 0;
        }));
        return command;
    }

    static Command MergeCommand()
    {
        var parts = new Argument<string[]>("parts") { Description = "The .npz files of the shards, in shard order.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output")
        {
            Description = "Where the merged samples go: O.npz and O.png for a path O; an existing folder, or a path ending in /, gets samples_NxHxWxC inside it.",
            Required = true,
        };
        var overwrite = OverwriteOption();
        var command = new Command("merge", "Concatenate the .npz outputs of `sample --shard i --num-shards n` runs.") { parts, output, overwrite };
        command.SetAction(result => Guarded(() =>
        {
            var merged = SampleSet.Concatenate([.. result.GetValue(parts)!.Select(SampleSet.Load)]);
            var name = SampleFilesBase(result.GetValue(output), $"samples_{merged.Count}x{merged.Height}x{merged.Width}x{merged.Channels}");
            OutputFiles.Check("--output", result.GetValue(overwrite), name + ".npz", name + ".png");
            var (npz, png) = merged.Save(name);
            AnsiConsole.Console.WriteLine($"wrote {merged.Count} samples to {npz} and {png}");
            return 0;
        }));
        return command;
    }

    static Command NllCommand(ModelDefinition model)
    {
        var dataDir = new Option<string>("--data-dir") { Description = "Images to evaluate: a folder of jpg/jpeg/png/gif (recursive), one CIFAR-10 .bin batch (test_batch.bin for the test set; a CIFAR-10 folder means its training batches), or an .npz (arr_0 NHWC uint8).", Required = true };
        var modelPath = ModelPathOption("evaluate");
        var batchSize = new Option<int>("--batch-size") { Description = "Images per batch.", DefaultValueFactory = _ => 16 };
        var numSamples = new Option<int?>("--num-samples") { Description = "Evaluate only the first N images. If omitted, all." };
        var respacing = new Option<string?>("--timestep-respacing") { Description = "Evaluate the bound of a respaced process. If omitted, every step." };
        var (clip, noClip) = ClipOptions();
        var seed = new Option<long>("--seed") { Description = "Seed of the noise; batch b is seeded by (seed, b) alone.", DefaultValueFactory = _ => 0 };
        var terms = new Option<string?>("--terms-csv")
        {
            Description = $"Where to write the per-step terms (t, vb in bits/dim, x_0 MSE); an existing folder, or a path ending in /, gets {NllTermsFileName} inside it. If omitted, {NllTermsFileName} in the current folder.",
        };
        var overwrite = OverwriteOption();
        var device = DeviceOption();
        var command = new Command("nll", "Bits per dimension of a dataset under the model's variational bound (the reference's image_nll.py). The last line printed is the mean bits/dim.")
        {
            dataDir, modelPath, batchSize, numSamples, respacing, clip, noClip, seed, terms, overwrite, device,
        };
        command.SetAction(result => Guarded(() =>
        {
            var options = new NllOptions(result.GetValue(dataDir)!, result.GetValue(modelPath)!, result.GetValue(batchSize), result.GetValue(numSamples),
                result.GetValue(respacing), ClipDenoised(result, clip, noClip), result.GetValue(seed), result.GetValue(device));
            var csv = OutputFiles.Resolve(result.GetValue(terms), NllTermsFileName);
            var processes = Communicators.FromEnvironment();
            if (processes.IsRoot) OutputFiles.Check("--terms-csv", result.GetValue(overwrite), csv);
            NllResult nll = null!;
            AnsiConsole.Progress().Start(context =>
            {
                var task = context.AddTask("bits/dim");
                nll = NllEvaluation.Run(model, options, new Progress<(int Done, int Total, double Mean)>(p =>
                {
                    task.MaxValue = p.Total;
                    task.Value = p.Done;
                    task.Description = $"bits/dim {p.Mean.ToString("F4", CultureInfo.InvariantCulture)}";
                }));
            });
            if (!processes.IsRoot) return 0; // every rank holds the result; rank 0 writes and prints it
            nll.WriteTermsCsv(csv);
            var console = AnsiConsole.Console;
            console.WriteLine($"{nll.Count} images: {nll.MeanBpd.ToString("F6", CultureInfo.InvariantCulture)} bits/dim " +
                $"(standard error {nll.StandardError.ToString("F6", CultureInfo.InvariantCulture)}); prior term {nll.PriorBpd.Average().ToString("G4", CultureInfo.InvariantCulture)}; per-step terms in {csv}");
            console.WriteLine(nll.MeanBpd.ToString("R", CultureInfo.InvariantCulture));
            return 0;
        }));
        return command;
    }

    static Command EvaluateCommand()
    {
        var samples = new Option<string>("--samples") { Description = "Samples to judge: an .npz as `sample` writes it (arr_0 NHWC uint8), or a folder of square images of one size.", Required = true };
        var reference = new Option<string>("--reference") { Description = "Reference statistics (.npz with mu and sigma, as pytorch-fid writes), or reference images: a folder, CIFAR-10 batches or an .npz with arr_0. Precision and recall need images.", Required = true };
        var weights = new Option<string>("--inception-weights") { Description = "pytorch-fid's FID Inception weights: pt_inception-2015-12-05-6726825d.pth as published, or the same weights as a current torch.save or .safetensors file.", Required = true };
        var batchSize = new Option<int>("--batch-size") { Description = "Images per Inception batch.", DefaultValueFactory = _ => InceptionFeatures.DefaultBatchSize };
        var saveStats = new Option<string?>("--save-reference-stats") { Description = "Cache the reference images' statistics to this .npz (mu, sigma) for later runs." };
        var overwrite = OverwriteOption();
        var device = DeviceOption();
        var command = new Command("evaluate", "FID, Inception Score, precision and recall of samples against a reference, with pytorch-fid's Inception network.")
        {
            samples, reference, weights, batchSize, saveStats, overwrite, device,
        };
        command.SetAction(result => Guarded(() =>
        {
            var processes = Communicators.FromEnvironment();
            if (processes.IsRoot && result.GetValue(saveStats) is { } statistics) OutputFiles.Check("--save-reference-stats", result.GetValue(overwrite), statistics);
            var options = new SampleEvaluationOptions(result.GetValue(samples)!, result.GetValue(reference)!, result.GetValue(weights)!,
                result.GetValue(batchSize), result.GetValue(saveStats), result.GetValue(device));
            SampleEvaluationResult evaluation = null!;
            AnsiConsole.Progress().Start(context =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                evaluation = SampleEvaluation.Run(options, new Progress<(string Step, int Done, int Total)>(p =>
                    {
                        if (!tasks.TryGetValue(p.Step, out var task)) tasks[p.Step] = task = context.AddTask(p.Step);
                        task.MaxValue = p.Total;
                        task.Value = p.Done;
                    }));
            });
            if (!processes.IsRoot) return 0; // every rank holds the result; rank 0 prints it
            foreach (var line in SampleEvaluation.Describe(evaluation)) AnsiConsole.Console.WriteLine(line);
            return 0;
        }));
        return command;
    }

    static Command ReportCommand(ModelDefinition model)
    {
        var runDir = new Option<string>("--run-dir") { Description = "The run folder of `train` (its progress.csv, nll_terms.csv and .npz samples are used).", Required = true };
        var nllTerms = new Option<string?>("--nll-terms") { Description = "Per-step terms written by `nll --terms-csv`. If omitted, nll_terms.csv in the run folder, if there." };
        var samples = new Option<string[]>("--samples") { Description = "Sample files (.npz from `sample`) to show as grids.", AllowMultipleArgumentsPerToken = true };
        var output = new Option<string?>("--output") { Description = "Folder for the PNGs and report.html. If omitted, <run-dir>/report." };
        var command = new Command("report", "Draw the noise schedules, the training curves, the bound per timestep and sample grids as PNGs and one self-contained HTML page.")
        {
            runDir, nllTerms, samples, output,
        };
        command.SetAction(result => Guarded(() =>
        {
            var run = result.GetValue(runDir)!;
            var files = RunReport.Write(model, run, result.GetValue(output) ?? Path.Combine(run, "report"), result.GetValue(nllTerms), result.GetValue(samples) ?? []);
            AnsiConsole.Console.WriteLine($"wrote {files.Html} with {files.Pictures.Count} pictures");
            return 0;
        }));
        return command;
    }

    /// <summary>The file name <c>nll</c> writes its per-step terms to, and <c>report</c> looks for in a run folder.</summary>
    const string NllTermsFileName = "nll_terms.csv";

    static Option<string> ModelPathOption(string purpose) => new("--model-path")
    {
        Description = $"Weights to {purpose}: a model or EMA checkpoint, ours or the reference's (modelNNNNNN.pt, ema_<rate>_NNNNNN.pt), " +
            "or a .safetensors state dict; an optNNNNNN.pt holds optimizer moments, not weights.",
        Required = true,
    };

    /// <summary>
    /// Clipping of the predicted x_0, on by default as in the reference: <c>--clip-denoised</c> stays for scripts written
    /// for the reference (<c>--clip-denoised false</c>), <c>--no-clip-denoised</c> is the natural way to turn it off.
    /// </summary>
    static (Option<bool> Clip, Option<bool> NoClip) ClipOptions() =>
    (
        new Option<bool>("--clip-denoised") { Description = "Clip each predicted x_0 to [-1, 1], as the reference does; on unless --no-clip-denoised (or --clip-denoised false) is given.", DefaultValueFactory = _ => true },
        new Option<bool>("--no-clip-denoised") { Description = "Leave each predicted x_0 unclipped (the same as --clip-denoised false)." }
    );

    static bool ClipDenoised(ParseResult result, Option<bool> clip, Option<bool> noClip)
    {
        if (result.GetResult(noClip) is { Implicit: false } && result.GetResult(clip) is { Implicit: false })
            throw new ArgumentException("--clip-denoised and --no-clip-denoised contradict each other: give one of them");
        return result.GetValue(clip) && !result.GetValue(noClip);
    }

    static Option<bool> OverwriteOption() => new("--overwrite") { Description = "Replace output files that already exist (without it, an existing file is an error and nothing is computed)." };

    /// <summary>The path without extension that <c>sample</c> and <c>merge</c> write <c>.npz</c> and <c>.png</c> to.</summary>
    static string SampleFilesBase(string? output, string defaultName)
    {
        var path = OutputFiles.Resolve(output, defaultName);
        return path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase) ? path[..^4] : path;
    }

    static Option<torch.Device> DeviceOption() => new("--device")
    {
        Description = "Where to run: cpu, or cuda / cuda:N with a CUDA build of TorchSharp.",
        DefaultValueFactory = _ => torch.CPU,
        CustomParser = result =>
        {
            try
            {
                return ComputeDevices.Parse(result.Tokens[^1].Value);
            }
            catch (ArgumentException error)
            {
                result.AddError(error.Message);
                return torch.CPU;
            }
        },
    };

    static string Text(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
