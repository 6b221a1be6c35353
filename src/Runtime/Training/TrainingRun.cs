using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>What <c>train</c> does, as options: which data, which run folder, and how to start.</summary>
/// <param name="DataPath">Training images: a folder of jpg/jpeg/png/gif (class labels from the file names), CIFAR-10's
/// binary batches, or an <c>.npz</c> with NHWC uint8 <c>arr_0</c> (and labels <c>arr_1</c>).</param>
public sealed record TrainingRunOptions(string DataPath)
{
    /// <summary>
    /// The run folder (checkpoints, <c>progress.csv</c>). Null: a new folder <c>runs/&lt;Model&gt;-&lt;time&gt;</c> under
    /// the current folder; with <see cref="Resume"/>, the newest such folder that holds a checkpoint.
    /// </summary>
    public string? RunDirectory { get; init; }

    /// <summary>Continue the run in <see cref="RunDirectory"/> from its newest usable checkpoint, exactly.</summary>
    public bool Resume { get; init; }

    /// <summary>Start from another run's checkpoint (ours or the reference's <c>modelNNNNNN.pt</c>) at its step.</summary>
    public string? ResumeCheckpoint { get; init; }

    /// <summary>The run's settings; null: the model's declared ones (<see cref="ModelDefinition.Training"/>).</summary>
    public TrainingOptions? Training { get; init; }

    /// <summary>Where to train; null: the CPU. See <see cref="ComputeDevices.Parse"/>.</summary>
    public Device? Device { get; init; }

    /// <summary>
    /// Gradient checkpointing on (true) or off (false) whatever the model's <c>[UNet(Checkpointing)]</c> says (the
    /// reference's <c>--use_checkpoint</c>); null: as declared. Results are the same; memory and time are not.
    /// </summary>
    public bool? UseCheckpoint { get; init; }

    /// <summary>
    /// The processes training together; null: <see cref="Communicators.FromEnvironment"/>, i.e. the MPI job when the
    /// process was started by <c>mpiexec</c>, else this process alone. Every rank opens the run with the same options;
    /// <see cref="TrainingOptions.BatchSize"/> is per rank (the global batch is K × that), rank 0 alone writes the run
    /// folder and tells the observers.
    /// </summary>
    public ICommunicator? Communicator { get; init; }
}

/// <summary>
/// A training run of a declared model, driven from code: <see cref="Open"/> checks the settings, opens the data,
/// chooses and guards the run folder, seeds and builds the network and resumes; <see cref="Run"/> (or
/// <see cref="RunAsync"/>) trains until the settings or a cancellation stop it, saving checkpoints as it goes. The
/// command-line <c>train</c> is this plus a display.
/// </summary>
/// <example>
/// <code>
/// using var run = TrainingRun.Open(MyModel.Definition, new TrainingRunOptions("data/") { RunDirectory = "run", Resume = Directory.Exists("run") });
/// var result = await run.RunAsync(new Progress&lt;TrainingStep&gt;(step => Console.WriteLine(step.Loss)), cancellationToken);
/// </code>
/// </example>
public sealed class TrainingRun : IDisposable
{
    /// <summary>The folder under the current directory that holds runs opened without a <see cref="TrainingRunOptions.RunDirectory"/>.</summary>
    public const string RunsFolder = "runs";

    /// <summary>The loss curve the command-line tool draws into a run folder; a new run refuses a folder that has one.</summary>
    public const string LossCurveFileName = "loss.png";

    readonly DiffusionNetworkModule network;
    readonly TrainLoop loop;
    readonly ForwardingObserver observers;

    TrainingRun(DiffusionNetworkModule network, TrainLoop loop, ForwardingObserver observers, IReadOnlyList<string> removedFiles, bool foundNoCheckpoint)
    {
        this.network = network;
        this.loop = loop;
        this.observers = observers;
        RemovedTemporaryFiles = removedFiles;
        ResumeFoundNoCheckpoint = foundNoCheckpoint;
    }

    /// <summary>The run folder, as a full path.</summary>
    public string RunDirectory => loop.RunDirectory;

    /// <summary>Optimiser steps done in total.</summary>
    public long Step => loop.Step;

    /// <summary>The settings the run trains with.</summary>
    public TrainingOptions Options => loop.Options;

    /// <summary>The network being trained (its weights are the run's current ones).</summary>
    public DiffusionNetworkModule Network => network;

    /// <summary>The loop underneath, for its moving averages, optimizer and sampler.</summary>
    public TrainLoop Loop => loop;

    /// <summary>Temporary files of a save a crash interrupted, deleted from the run folder when it was opened.</summary>
    public IReadOnlyList<string> RemovedTemporaryFiles { get; }

    /// <summary>With <see cref="TrainingRunOptions.Resume"/>: the folder held no checkpoint, so the run starts at step 0.</summary>
    public bool ResumeFoundNoCheckpoint { get; }

    /// <summary>Checkpoints newer than the one resumed from that could not be used, with why (they are written anew when the run gets there).</summary>
    public IReadOnlyList<UnusableCheckpoint> SkippedCheckpoints => loop.SkippedOnResume;

    /// <summary>The checkpoint the run continues, if it continues one.</summary>
    public TrainingCheckpoint? ResumedFrom { get; private init; }

    /// <summary>Opens a run of <paramref name="model"/>: everything up to the first step.</summary>
    /// <param name="observers">Told of the run's start, steps, log rows and checkpoints.</param>
    /// <exception cref="TrainingOptionException">A setting breaks its rule.</exception>
    /// <exception cref="ArgumentException">The run folder cannot be used as asked (named in the message).</exception>
    /// <exception cref="DataException">The data cannot be read or does not fit the model.</exception>
    public static TrainingRun Open(ModelDefinition model, TrainingRunOptions options, IEnumerable<ITrainingObserver>? observers = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var training = options.Training ?? model.Training;
        training.Validate();
        if (options.Resume && options.ResumeCheckpoint is not null)
            throw new ArgumentException("--resume continues --run-dir's own checkpoints and --resume-checkpoint starts from another run's: give one of them");
        if (options.RunDirectory is not null) OutputFiles.CheckIsNoFile("--run-dir", options.RunDirectory);
        var device = options.Device ?? CPU;
        var dataset = ImageDatasets.Open(options.DataPath, model.ImageSize, model.ClassConditional, model.ClassConditional ? model.NumClasses : null);
        if (dataset.Channels != model.Channels)
            throw new DataException(dataset.Source, $"{dataset.Source} gives {dataset.Channels}-channel images; {model.Name} takes {model.Channels} channels");
        var communicator = options.Communicator ?? Communicators.FromEnvironment();
        // Rank 0's choice: a new folder's name holds the time, which the ranks would read apart.
        var runDirectory = communicator.BroadcastString(communicator.IsRoot ? ChooseRunDirectory(model, options.RunDirectory, options.Resume) : "");
        if (!options.Resume) RefuseToOverwrite(runDirectory);
        var removed = communicator.IsRoot ? TrainingCheckpoint.DeleteInterruptedSaves(runDirectory) : [];

        random.manual_seed(training.Seed); // the initial weights, so that the seed fixes the whole run
        var network = model.CreateNetwork();
        if (options.UseCheckpoint is { } checkpointing) GradientCheckpoint.SetEnabled(network, checkpointing);
        var forwarding = new ForwardingObserver(observers);
        TrainLoop? loop = null;
        try
        {
            if (device.type != DeviceType.CPU) network.to(device);
            var diffusion = model.CreateDiffusion(""); // training uses every step; a declared respacing is for sampling
            loop = new TrainLoop(network, diffusion, training, runDirectory,
                consumed => Batches(new TrainingDataLoader(dataset, training.BatchSize, training.Seed, device, startBatch: consumed,
                    rank: communicator.Rank, ranks: communicator.Size)), [forwarding], communicator)
            {
                Inputs = RunInputs.Of(model.Name, dataset, training, communicator.Size),
            };
            var foundNoCheckpoint = options.Resume && !loop.Resume();
            if (options.ResumeCheckpoint is { } start) loop.StartFrom(start);
            // Each rank read the run folder itself: a rank that found another checkpoint (a folder not shared, a file
            // damaged in one copy) would train another state in lockstep with the others, silently.
            if (communicator.Size > 1 && communicator.AllGather<long>([loop.Step]) is var steps && steps.Distinct().Count() > 1)
            {
                throw new InvalidDataException(
                    $"The ranks resumed from different steps ({string.Join(", ", steps.Select((step, rank) => $"rank {rank}: {step}"))}) of {runDirectory}: " +
                    "every rank must read the same run folder (a shared file system, or the same files at the same path on every machine).");
            }
            return new TrainingRun(network, loop, forwarding, removed, foundNoCheckpoint) { ResumedFrom = loop.LastCheckpoint };
        }
        catch
        {
            loop?.Dispose();
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.MaxSteps"/>, the end of the learning-rate anneal, the end of the data or
    /// <paramref name="cancellationToken"/> (checked between steps; cancelling saves a checkpoint and is no error).
    /// </summary>
    /// <param name="progress">Told of every optimiser step, in addition to the observers.</param>
    /// <exception cref="TrainingDivergedException">A loss or the gradient norm was not finite; the last checkpoint is untouched.</exception>
    public TrainingResult Run(CancellationToken cancellationToken = default, IProgress<TrainingStep>? progress = null)
    {
        observers.Progress = progress;
        try
        {
            return loop.Run(cancellationToken);
        }
        finally
        {
            observers.Progress = null;
        }
    }

    /// <summary><see cref="Run"/> on a thread of its own, for callers that must stay responsive (a UI, a service).</summary>
    public Task<TrainingResult> RunAsync(IProgress<TrainingStep>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Factory.StartNew(() => Run(cancellationToken, progress), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

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
    /// (checkpoints of the same steps, the loss curve) or mix with them (<c>progress.csv</c>).
    /// </summary>
    static void RefuseToOverwrite(string runDirectory)
    {
        var files = TrainingCheckpoint.CheckpointFiles(runDirectory)
            .Concat(new[] { TrainLoop.ProgressFileName, LossCurveFileName }.Select(name => Path.Combine(runDirectory, name)).Where(File.Exists))
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

    public void Dispose()
    {
        loop.Dispose();
        network.Dispose();
    }

    /// <summary>The caller's observers, and the progress of the current <see cref="Run"/>.</summary>
    sealed class ForwardingObserver(IEnumerable<ITrainingObserver>? observers) : ITrainingObserver
    {
        readonly IReadOnlyList<ITrainingObserver> observers = observers?.ToList() ?? [];

        public IProgress<TrainingStep>? Progress { get; set; }

        public void OnStarted(TrainingStarted started)
        {
            foreach (var observer in observers) observer.OnStarted(started);
        }

        public void OnStep(TrainingStep step)
        {
            foreach (var observer in observers) observer.OnStep(step);
            Progress?.Report(step);
        }

        public void OnLog(TrainingLogRow row)
        {
            foreach (var observer in observers) observer.OnLog(row);
        }

        public void OnCheckpointSaved(TrainingCheckpoint checkpoint)
        {
            foreach (var observer in observers) observer.OnCheckpointSaved(checkpoint);
        }
    }
}
