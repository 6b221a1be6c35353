using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Trains a diffusion network as the reference's <c>TrainLoop</c> does: for every batch, per microbatch timesteps and
/// importance weights from the schedule sampler, the diffusion's training losses, the sampler fed back, and the
/// gradient of mean(loss·weights); then the gradient norm, the learning-rate anneal, an AdamW step and the moving
/// averages. Progress goes to <c>progress.csv</c> in the run folder and to observers; checkpoints are saved every
/// <see cref="TrainingOptions.SaveInterval"/> steps and on the way out.
/// </summary>
/// <remarks>
/// <para>Microbatches: like the reference, the gradients of the per-microbatch <em>means</em> are summed, not
/// averaged: with k microbatches the gradient is k times that of the whole batch's mean (AdamW is nearly invariant
/// to that scale, the gradient norm is not).</para>
/// <para>Randomness: each example's timestep and noise are drawn from generators seeded by (<see cref="Seed"/>, step,
/// the example's index in the global batch), so a run resumed from a checkpoint takes exactly the steps the
/// uninterrupted run would have, given the same data in the same order, and K processes of batch B draw what one
/// process of batch K·B draws. The global TorchSharp generator (dropout) is reseeded every step from (seed, step,
/// rank): dropout masks are the one draw that depends on how the batch is split.</para>
/// <para>Several processes (<see cref="Communicator"/> of size K): each rank trains on its B examples of a global batch
/// of K·B; gradients are averaged across ranks before the gradient norm and the optimiser step, the schedule sampler
/// and the log see every rank's (t, loss), so all ranks hold the same parameters, moments, averages and sampler. Only
/// rank 0 writes checkpoints and <c>progress.csv</c> and tells the observers.</para>
/// <para>Non-finite values: a NaN or infinite loss or gradient norm stops the run before the optimiser step (see
/// <see cref="TrainingDivergedException"/>). libtorch 2.10's oneDNN convolution backward writes such NaNs into the
/// input gradient of convolutions with few output channels; the generated U-Nets avoid it in
/// <see cref="OutputConvolution"/>, the one layer that has them.</para>
/// <para>Memory: each step runs in its own dispose scope; nothing but the weights, moments and averages outlives it.</para>
/// </remarks>
public sealed class TrainLoop : IDisposable
{
    /// <summary>The file in the run folder that receives a row every logging interval.</summary>
    public const string ProgressFileName = "progress.csv";

    const ulong TimestepStream = 1, NoiseStream = 2, GlobalStream = 3;

    readonly nn.Module module;
    readonly IDiffusionNetwork network;
    readonly GaussianDiffusion diffusion;
    readonly Func<long, IEnumerator<TrainingBatch>> openData;
    readonly IReadOnlyList<ITrainingObserver> observers;
    readonly AdamWOptimizer optimizer;
    readonly List<ExponentialMovingAverage> averages;
    readonly IScheduleSampler sampler;
    readonly TrainingLogAccumulator log = new();
    readonly CsvProgressLog progress;
    readonly Device device;
    readonly IReadOnlyList<Parameter> parameters;
    readonly TensorCollectives collectives;
    long lastSavedStep = -1;
    double lr;

    /// <param name="network">The network to train: a TorchSharp module that implements <see cref="IDiffusionNetwork"/>.
    /// Its weights are the starting point unless <see cref="Resume"/> loads a checkpoint.</param>
    /// <param name="runDirectory">Where checkpoints and <c>progress.csv</c> go (the reference's log dir).</param>
    /// <param name="openData">Opens the batches in their fixed order, skipping the given number already consumed:
    /// under several processes, this rank's share of each global batch.</param>
    /// <param name="communicator">The processes training together (null: this one alone). Every rank must construct
    /// its loop with the same network, options and run folder; the weights are taken from rank 0.</param>
    public TrainLoop(nn.Module network, GaussianDiffusion diffusion, TrainingOptions options, string runDirectory,
        Func<long, IEnumerator<TrainingBatch>> openData, IEnumerable<ITrainingObserver>? observers = null, ICommunicator? communicator = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(diffusion);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        ArgumentNullException.ThrowIfNull(openData);
        this.network = network as IDiffusionNetwork
            ?? throw new ArgumentException($"{network.GetType().Name} does not implement {nameof(IDiffusionNetwork)}", nameof(network));
        options.Validate();
        module = network;
        this.diffusion = diffusion;
        Options = options;
        RunDirectory = Path.GetFullPath(runDirectory);
        this.openData = openData;
        this.observers = observers?.ToList() ?? [];
        Seed = options.Seed;
        parameters = network.parameters().ToList();
        if (parameters.Count == 0) throw new ArgumentException("the network has no parameters to train", nameof(network));
        device = parameters[0].device;
        lr = options.Lr;

        // A run that pays recomputation for memory should not lose it to heap fragmentation; any other run should not
        // pay for fresh pages (see NativeHeap).
        savesMemory = network.modules().Any(m => m is ResBlock { UseCheckpoint: true } or AttentionBlock { UseCheckpoint: true });
        if (savesMemory) NativeHeap.UseFixedMmapThreshold();
        else NativeHeap.KeepFreedBlocksInHeap();

        // PyTorch's AdamW defaults, spelled out: the reference passes only lr and weight_decay.
        optimizer = new AdamWOptimizer(parameters, options.Lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: options.WeightDecay);
        averages = options.EmaRates.Select(rate => new ExponentialMovingAverage(network, rate)).ToList();
        sampler = ScheduleSamplers.Create(options.ScheduleSampler, diffusion.NumTimesteps);
        progress = new CsvProgressLog(Path.Combine(RunDirectory, ProgressFileName));
        Communicator = communicator ?? SingleProcessCommunicator.Instance;
        collectives = new TensorCollectives(Communicator);
        // Every rank seeded the same weights; rank 0's are sent anyway, so that nothing in how a rank built them matters.
        if (Communicator.Size > 1)
        {
            collectives.BroadcastModule(network);
            averages.ForEach(average => average.Reset());
        }
    }

    /// <summary>The processes training together: rank 0 writes; all compute.</summary>
    public ICommunicator Communicator { get; }

    /// <summary>Examples per optimiser step over all ranks: K × <see cref="TrainingOptions.BatchSize"/>.</summary>
    public long GlobalBatchSize => (long)Options.BatchSize * Communicator.Size;

    public TrainingOptions Options { get; }

    public string RunDirectory { get; }

    /// <summary>Optimiser steps done in total (the step count of the next checkpoint).</summary>
    public long Step { get; private set; }

    /// <summary>Batches taken from the data in total (the argument <c>openData</c> receives).</summary>
    public long BatchesConsumed { get; private set; }

    /// <summary>The seed the run's draws derive from: the options' for a fresh run, the checkpoint's for a resumed one.</summary>
    public long Seed { get; private set; }

    /// <summary>The moving averages, one per rate of <see cref="TrainingOptions.EmaRates"/>.</summary>
    public IReadOnlyList<ExponentialMovingAverage> Averages => averages;

    public AdamWOptimizer Optimizer => optimizer;

    public IScheduleSampler Sampler => sampler;

    /// <summary>The newest checkpoint this loop saved or resumed from.</summary>
    public TrainingCheckpoint? LastCheckpoint { get; private set; }

    /// <summary>
    /// What identifies this run's inputs (model, batch and microbatch size, data set): recorded in every checkpoint,
    /// and compared by <see cref="Resume"/> with the checkpoint's. Null records and checks nothing.
    /// </summary>
    public RunInputs? Inputs { get; init; }

    /// <summary>
    /// The checkpoints newer than the one <see cref="Resume"/> continued from that it could not use, newest first, with
    /// why: a caller should report them (the run will save those steps anew when it reaches them).
    /// </summary>
    public IReadOnlyList<UnusableCheckpoint> SkippedOnResume { get; private set; } = [];

    /// <summary>
    /// The reference's <c>_anneal_lr</c>: lr·(1 − step/annealSteps) for the step with that index, or lr when
    /// <paramref name="annealSteps"/> is 0.
    /// </summary>
    public static double AnnealedLr(double lr, long annealSteps, long step) =>
        annealSteps == 0 ? lr : lr * (1 - (double)step / annealSteps);

    /// <summary>
    /// Continues from the newest complete checkpoint in <paramref name="runDirectory"/> (default: this run's folder):
    /// weights, optimizer moments, moving averages (restarted from the weights for a rate the checkpoint lacks, as the
    /// reference does), sampler history, step, data position, seed and the log interval in progress. Rows of
    /// <c>progress.csv</c> past the checkpoint are dropped. A newer checkpoint that cannot be used (a state file that
    /// does not read, a file it names missing, a damaged file) is skipped for the one before it and listed in
    /// <see cref="SkippedOnResume"/>. Returns false if the folder holds no checkpoint file at all: the run starts at
    /// step 0, and rows already in <c>progress.csv</c> (of steps no checkpoint kept) are dropped.
    /// </summary>
    /// <exception cref="InvalidDataException">The folder holds checkpoint files but no checkpoint that can be used
    /// (starting afresh would overwrite them); the message names every state file and why. Nothing was changed.</exception>
    /// <exception cref="ArgumentException">The checkpoint was saved with other <see cref="Inputs"/>: continuing it
    /// with these would not be the same run. The message says what differs.</exception>
    public bool Resume(string? runDirectory = null)
    {
        var folder = Path.GetFullPath(runDirectory ?? RunDirectory);
        var skipped = new List<UnusableCheckpoint>();
        foreach (var (statePath, step) in TrainingCheckpoint.StateFilesNewestFirst(folder))
        {
            TrainingCheckpoint checkpoint;
            try
            {
                // Checked whole before anything is loaded, so that a damaged file means falling back, not half a load.
                checkpoint = TrainingCheckpoint.OpenComplete(statePath);
                checkpoint.Verify();
            }
            catch (Exception error) when (error is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                skipped.Add(new UnusableCheckpoint(statePath, step, error.Message));
                continue;
            }
            ResumeFrom(checkpoint, checkInputs: true);
            SkippedOnResume = skipped;
            return true;
        }
        if (skipped.Count > 0)
        {
            throw new InvalidDataException(
                $"{folder} holds checkpoints, but none can be resumed: {string.Join("; ", skipped.Select(s => s.Reason))}. Nothing was changed.");
        }
        if (TrainingCheckpoint.CheckpointFiles(folder) is [var first, ..] files)
        {
            throw new InvalidDataException(
                $"{folder} holds {Path.GetFileName(first)}{(files.Count > 1 ? $" and {files.Count - 1} more checkpoint files" : "")} but no " +
                "state*.json that completes a checkpoint, so there is nothing to resume exactly, and starting at step 0 would overwrite " +
                "them. Nothing was changed: move them away, or start from one of them as another run's checkpoint.");
        }
        if (Communicator.IsRoot) progress.DropRowsFrom(0);
        return false;
    }

    /// <summary>
    /// Starts from one checkpoint of another run (the reference's <c>--resume_checkpoint</c>): a model file of ours,
    /// continued exactly as <see cref="Resume"/> would; or the reference's <c>modelNNNNNN.pt</c>, whose step is read
    /// from its name and whose <c>optNNNNNN.pt</c> and <c>ema_{rate}_NNNNNN.pt</c> are loaded from beside it when
    /// present (an average without a file restarts from the weights, as in the reference). The data order starts
    /// afresh from this run's seed.
    /// </summary>
    /// <exception cref="ArgumentException">The file name carries no step.</exception>
    public void StartFrom(string modelPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        modelPath = Path.GetFullPath(modelPath);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"no checkpoint at {modelPath}", modelPath);
        var step = TrainingCheckpoint.StepFromFileName(modelPath)
            ?? throw new ArgumentException($"{modelPath}: the step is read from the name, as the reference does (model<step>.pt, e.g. model050000.pt)");
        var folder = Path.GetDirectoryName(modelPath)!;
        var statePath = Path.Combine(folder, TrainingCheckpoint.StateFileName(step));
        if (File.Exists(statePath) && TrainingCheckpoint.Open(statePath) is var ours && ours.ModelPath == modelPath)
        {
            ResumeFrom(ours, checkInputs: false); // another run's checkpoint: starting from it with other inputs is the point
            return;
        }

        Checkpoint.LoadStateDict(module, modelPath);
        var optimizerPath = Path.Combine(folder, TrainingCheckpoint.OptimizerFileName(step));
        if (File.Exists(optimizerPath)) OptimizerCheckpoint.Load(optimizer, optimizerPath);
        foreach (var average in averages)
        {
            var path = Path.Combine(folder, ExponentialMovingAverage.FileName(average.Rate, step));
            if (File.Exists(path)) average.Load(path);
            else average.Reset();
        }
        Step = step;
        BatchesConsumed = 0;
        log.Restore(null);
        if (Communicator.IsRoot) progress.DropRowsFrom(Step);
    }

    void ResumeFrom(TrainingCheckpoint checkpoint, bool checkInputs)
    {
        var state = checkpoint.ReadState();
        if (checkInputs && state.Inputs is { } saved && Inputs is { } now && saved.Differences(now) is { Count: > 0 } differences)
        {
            throw new ArgumentException(
                $"{checkpoint.StatePath} was saved by a run with other inputs, so resuming would not continue it exactly: " +
                $"{string.Join("; ", differences)}. Resume with the run's own, or start a new run from it in another folder " +
                $"(--resume-checkpoint {checkpoint.ModelPath}).");
        }
        Checkpoint.LoadStateDict(module, checkpoint.ModelPath);
        OptimizerCheckpoint.Load(optimizer, checkpoint.OptimizerPath);
        foreach (var average in averages)
        {
            if (checkpoint.EmaPath(average.Rate) is { } path) average.Load(path);
            else average.Reset();
        }
        if (sampler is LossSecondMomentResampler resampler)
            resampler.RestoreHistory(state.SamplerHistory ?? Enumerable.Range(0, resampler.NumTimesteps).Select(_ => Array.Empty<double>()).ToArray());

        Step = state.Step;
        BatchesConsumed = state.BatchesConsumed;
        Seed = state.Seed;
        log.Restore(state.PendingLog);
        // Rows past the checkpoint go, and so does a partial row of the interval it was saved in (written when that
        // run ended there): the resumed run logs the whole interval.
        if (Communicator.IsRoot) progress.DropRowsFrom(Step - log.PendingSteps);
        LastCheckpoint = checkpoint;
        lastSavedStep = checkpoint.Directory == RunDirectory ? Step : -1;
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.MaxSteps"/> steps are done in total, the learning rate is annealed to 0,
    /// the data runs out or <paramref name="cancellationToken"/> is signalled (checked between steps); then saves a
    /// checkpoint (unless the last step just did) and returns. Cancelling is not an error.
    /// </summary>
    /// <exception cref="TrainingDivergedException">A loss or the gradient norm was NaN or infinite; nothing of that
    /// step was applied or saved.</exception>
    public TrainingResult Run(CancellationToken cancellationToken = default)
    {
        module.train();
        Notify(o => o.OnStarted(new TrainingStarted(RunDirectory, Step, LastCheckpoint, parameters.Sum(p => p.numel()), Options)));
        TrainingStopReason reason;
        using (var data = openData(BatchesConsumed))
        {
            while (true)
            {
                if (StopReason(cancellationToken) is { } stop)
                {
                    reason = stop;
                    break;
                }
                if (!data.MoveNext())
                {
                    reason = TrainingStopReason.DataExhausted;
                    break;
                }
                using (var batch = data.Current) TrainOn(batch);
                if (Step % Options.LogInterval == 0) WriteLogRow();
                if (Step % Options.SaveInterval == 0) Save();
            }
        }
        log.Pause();
        // A partial interval is logged at a natural end; a cancelled run keeps it in the checkpoint to finish on resume.
        if (reason != TrainingStopReason.Cancelled && !log.IsEmpty && Step > 0) WriteLogRow();
        var checkpoint = lastSavedStep == Step && LastCheckpoint is not null ? LastCheckpoint : Save();
        return new TrainingResult(Step, reason, checkpoint);
    }

    TrainingStopReason? StopReason(CancellationToken cancellationToken)
    {
        if (CancelledOnAnyRank(cancellationToken)) return TrainingStopReason.Cancelled;
        if (Options.LrAnnealSteps > 0 && Step >= Options.LrAnnealSteps) return TrainingStopReason.Annealed;
        if (Options.MaxSteps is { } max && Step >= max) return TrainingStopReason.MaxSteps;
        return null;
    }

    /// <summary>
    /// Whether any rank was asked to stop: decided together (one tiny all-reduce a step), since a signal reaches the
    /// ranks at different moments and a rank that stopped alone would leave the others waiting in the next step.
    /// </summary>
    bool CancelledOnAnyRank(CancellationToken cancellationToken)
    {
        if (Communicator.Size == 1) return cancellationToken.IsCancellationRequested;
        Span<int> requests = [cancellationToken.IsCancellationRequested ? 1 : 0];
        Communicator.AllReduceSum(requests);
        return requests[0] > 0;
    }

    /// <summary>
    /// One optimiser step on <paramref name="batch"/>, as <see cref="Run"/> takes each (its values go into the current
    /// logging interval); no row is written and nothing is saved. For loops of one's own, and for benchmarks.
    /// </summary>
    /// <exception cref="TrainingDivergedException">A loss or the gradient norm was not finite; nothing of the step was applied.</exception>
    public TrainingStep TrainOn(TrainingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        log.StepStarting(); // samples/s counts the time of every step in the row, the first after a resume included
        module.train();
        var step = Step;
        using var scope = NewDisposeScope();
        var images = batch.Images.to(device);
        var labels = batch.Labels?.to(device);
        var batchSize = images.shape[0];
        if (batchSize != Options.BatchSize)
            throw new InvalidDataException($"batch {BatchesConsumed} holds {batchSize} examples; the batch size is {Options.BatchSize} (drop incomplete batches, as the reference's loader does)");

        var loss = ForwardBackward(step, images, labels);
        var gradNorm = GradNorm();
        if (!double.IsFinite(gradNorm)) throw new TrainingDivergedException(step, "gradient norm", gradNorm, LastCheckpoint);
        log.AddGradNorm(gradNorm);

        lr = AnnealedLr(Options.Lr, Options.LrAnnealSteps, step);
        optimizer.LearningRate = lr;
        optimizer.Step();
        foreach (var average in averages) average.Update();

        Step = step + 1;
        BatchesConsumed++;
        log.AddSamples(batchSize * Communicator.Size);
        var report = new TrainingStep(step, Step * GlobalBatchSize, loss, gradNorm, lr);
        Notify(o => o.OnStep(report));
        return report;
    }

    /// <summary>
    /// The gradient of one step: per microbatch, timesteps from the sampler (fed back every rank's losses), the
    /// training losses with seeded noise, and backward of mean(loss·weights); then the gradients averaged across ranks.
    /// Returns the mean over microbatches of mean(loss·weights) over the global microbatch (every rank's examples).
    /// Each example's draws come from generators seeded by (seed, step, its index in the global batch).
    /// </summary>
    double ForwardBackward(long step, Tensor images, Tensor? labels)
    {
        var rank = Communicator.Rank;
        var globalSeed = rank == 0 ? StepSeed(step, GlobalStream) : (long)(Mix((ulong)StepSeed(step, GlobalStream) ^ (ulong)rank) >> 1);
        using (random.manual_seed(globalSeed)) { }
        if (cuda.is_available()) cuda.manual_seed_all(globalSeed);

        var hadGradient = ReleaseGradients ? optimizer.ReleaseGradients() : null;
        if (!ReleaseGradients) optimizer.ZeroGrad();
        ReleaseFreeHeap();
        var batchSize = images.shape[0];
        var microbatch = Options.MicrobatchSize;
        var lossSum = 0.0;
        var microbatches = 0;
        for (long start = 0; start < batchSize; start += microbatch)
        {
            using var microScope = NewDisposeScope();
            var size = (int)Math.Min(microbatch, batchSize - start);
            var x = images.narrow(0, start, size);
            var y = labels?.narrow(0, start, size);
            var firstExample = rank * batchSize + start; // this microbatch's place in the step's global batch
            var drawn = DrawTimesteps(step, firstExample, size);
            var t = tensor(drawn.Timesteps, device: device);
            var weights = tensor(drawn.Weights.Select(w => (float)w).ToArray(), device: device);
            // A super-resolution network is conditioned on the microbatch itself, downsampled (super_res_train.py).
            var conditioned = module is SuperResNetworkModule superRes ? superRes.ConditionedOnDownsampled(x) : network;
            var losses = diffusion.TrainingLosses(conditioned, x, t, DrawNoise(step, firstExample, x.shape), y);

            // Every rank's (t, loss, weighted terms), in rank order: the sampler, the log and the divergence check see
            // the global microbatch, identically on every rank (so a NaN on one rank stops all of them at once).
            var terms = new[] { (LossTerm.Loss, losses.Loss), (LossTerm.Mse, losses.Mse), (LossTerm.Vb, losses.Vb) }
                .Where(term => term.Item2 is not null).Select(term => (Term: term.Item1, Values: term.Item2!)).ToList();
            var mine = new List<double>(size * (2 + terms.Count));
            mine.AddRange(drawn.Timesteps.Select(value => (double)value)); // exact: t < 2^53
            mine.AddRange(ToDoubles(losses.Loss));
            foreach (var term in terms) mine.AddRange(ToDoubles(term.Values * weights));
            var gathered = Communicator.AllGather<double>(mine.ToArray());
            var stride = mine.Count;
            double[] Column(int part) => Enumerable.Range(0, Communicator.Size)
                .SelectMany(r => gathered.AsSpan(r * stride + part * size, size).ToArray()).ToArray();
            var allTimesteps = Column(0).Select(value => (long)value).ToArray();
            var allLosses = Column(1);
            foreach (var value in allLosses)
            {
                if (!double.IsFinite(value)) throw new TrainingDivergedException(step, "loss", value, LastCheckpoint);
            }
            sampler.UpdateWithAllLosses(allTimesteps, allLosses);
            for (var i = 0; i < terms.Count; i++)
            {
                var weighted = Column(2 + i);
                log.AddTerm(terms[i].Term, weighted, allTimesteps, diffusion.NumTimesteps);
                if (terms[i].Term == LossTerm.Loss) lossSum += weighted.Average();
            }
            microbatches++;
            ReleaseFreeHeap();
            (losses.Loss * weights).mean().backward();
            ReleaseFreeHeap();
        }
        if (hadGradient is not null) optimizer.RestoreZeroGradients(hadGradient);
        AverageGradients();
        return lossSum / microbatches;
    }

    /// <summary>
    /// The timesteps of examples [<paramref name="firstExample"/>, +<paramref name="count"/>) of the step's global
    /// batch, each from its own generator, with the sampler's current weights (its importance weights unchanged).
    /// </summary>
    TimestepSample DrawTimesteps(long step, long firstExample, int count)
    {
        var timesteps = new long[count];
        var weights = new double[count];
        for (var i = 0; i < count; i++)
        {
            var one = sampler.Sample(1, new Random((int)(ExampleSeed(step, TimestepStream, firstExample + i) & int.MaxValue)));
            timesteps[i] = one.Timesteps[0];
            weights[i] = one.Weights[0];
        }
        return new TimestepSample(timesteps, weights);
    }

    /// <summary>The noise of examples [<paramref name="firstExample"/>, +shape[0]), each from its own generator.</summary>
    Tensor DrawNoise(long step, long firstExample, long[] shape)
    {
        var one = (long[])shape.Clone();
        one[0] = 1;
        var draws = new List<Tensor>();
        for (long i = 0; i < shape[0]; i++)
        {
            using var noise = new SeededNoiseSource(ExampleSeed(step, NoiseStream, firstExample + i), device);
            draws.Add(noise.Next(one));
        }
        return cat(draws, 0);
    }

    /// <summary>A/B switch for the benchmarks: free the gradients before each step's backward (true) or zero them in
    /// place as the reference does; the results are the same.</summary>
    internal static bool ReleaseGradients { get; set; } = true;

    /// <summary>
    /// With gradient checkpointing, hands the heap's free pages back to the system at a step's turning points: before
    /// the forward, between forward and backward, after backward (see <see cref="NativeHeap.ReleaseFreeMemory"/>).
    /// Freed activations otherwise stay resident in glibc's heap, fragmented: at batch 32 with checkpointing, 5 steps,
    /// peak RSS 1894 MB instead of 2181 MB at about the same step time. Not for plain runs, where the pages faulted in
    /// again cost too much: the CIFAR-10 model at batch 32, 8 steps, peak RSS 5061 → 3910 MB but 1.12× the step time
    /// (A/B, pairs 1.07–1.43).
    /// </summary>
    void ReleaseFreeHeap()
    {
        if (savesMemory && TrimHeap) NativeHeap.ReleaseFreeMemory();
    }

    readonly bool savesMemory;

    /// <summary>A/B switch for the benchmarks: <see cref="ReleaseFreeHeap"/> on (true) or off.</summary>
    internal static bool TrimHeap { get; set; } = true;

    /// <summary>A/B switch for the benchmarks: each parameter's sum of squared gradients as a dot product (true) or as
    /// sum(grad²).</summary>
    internal static bool DotGradNorm { get; set; } = true;

    /// <summary>The data-parallel mean of the gradients (as DistributedDataParallel), in parameter order.</summary>
    void AverageGradients()
    {
        if (Communicator.Size == 1) return;
        using var scope = NewDisposeScope();
        // The same parameters have gradients on every rank: the same network ran the same code.
        collectives.AllReduceMean(parameters.Where(p => p.grad is not null).Select(p => p.grad!).ToList());
    }

    /// <summary>
    /// √(Σ grad²), summed per parameter in float32 and across parameters in float64 in parameter order, as the
    /// reference does; the per-parameter sums come back from the device in one transfer, not one per parameter.
    /// </summary>
    double GradNorm()
    {
        using var gradients = no_grad();
        using var scope = NewDisposeScope();
        using var two = 2.0.ToScalar(); // held: an implicit Scalar can be finalized mid-call (dotnet/TorchSharp#1434)
        var sums = parameters.Where(p => p.grad is not null).Select(p => SumOfSquares(p.grad!, two)).ToList();
        if (sums.Count == 0) return 0;
        var sumOfSquares = 0.0;
        foreach (var value in stack(sums).to(ScalarType.Float64).cpu().data<double>()) sumOfSquares += value;
        return Math.Sqrt(sumOfSquares);
    }

    /// <summary>Σ g², as a dot product of the flattened gradient with itself: one read of it, no temporary of its size.</summary>
    internal static Tensor SumOfSquares(Tensor gradient, Scalar two)
    {
        if (!DotGradNorm) return gradient.pow(two).sum();
        var flat = gradient.reshape(-1);
        return flat.dot(flat);
    }

    void WriteLogRow()
    {
        var row = log.TakeRow(Step - 1, Step * GlobalBatchSize, lr);
        if (!Communicator.IsRoot) return;
        progress.Append(row);
        Notify(o => o.OnLog(row));
    }

    /// <summary>
    /// Saves a checkpoint of the current step into the run folder: the weights, each moving average and the optimizer
    /// state under the reference's names, then the state file that completes it.
    /// </summary>
    public TrainingCheckpoint Save()
    {
        if (!Communicator.IsRoot) return SaveElsewhere();
        Directory.CreateDirectory(RunDirectory);
        var modelFile = TrainingCheckpoint.ModelFileName(Step);
        Checkpoint.SaveStateDict(module, Path.Combine(RunDirectory, modelFile));
        var emaFiles = new List<TrainingState.EmaFile>();
        foreach (var average in averages)
        {
            var file = ExponentialMovingAverage.FileName(average.Rate, Step);
            average.Save(Path.Combine(RunDirectory, file));
            emaFiles.Add(new TrainingState.EmaFile(average.Rate, file));
        }
        var optimizerFile = TrainingCheckpoint.OptimizerFileName(Step);
        OptimizerCheckpoint.Save(optimizer, Path.Combine(RunDirectory, optimizerFile));

        var state = new TrainingState
        {
            Step = Step,
            BatchesConsumed = BatchesConsumed,
            Seed = Seed,
            Model = modelFile,
            Optimizer = optimizerFile,
            Ema = emaFiles,
            ScheduleSampler = Options.ScheduleSampler,
            SamplerHistory = (sampler as LossSecondMomentResampler)?.History(),
            PendingLog = log.IsEmpty ? null : log.Snapshot(),
            Inputs = Inputs,
        };
        var checkpoint = TrainingCheckpoint.Write(RunDirectory, state);
        LastCheckpoint = checkpoint;
        lastSavedStep = Step;
        Notify(o => o.OnCheckpointSaved(checkpoint));
        return checkpoint;
    }

    /// <summary>
    /// On ranks other than 0, which hold the same state but write nothing: the checkpoint rank 0 writes at this step,
    /// as it will be named (rank 0 may not have finished writing it).
    /// </summary>
    TrainingCheckpoint SaveElsewhere()
    {
        var checkpoint = new TrainingCheckpoint(RunDirectory, Step, Path.Combine(RunDirectory, TrainingCheckpoint.StateFileName(Step)),
            Path.Combine(RunDirectory, TrainingCheckpoint.ModelFileName(Step)), Path.Combine(RunDirectory, TrainingCheckpoint.OptimizerFileName(Step)),
            averages.Select(a => new EmaCheckpoint(a.Rate, Path.Combine(RunDirectory, ExponentialMovingAverage.FileName(a.Rate, Step)))).ToList());
        LastCheckpoint = checkpoint;
        lastSavedStep = Step;
        return checkpoint;
    }

    /// <summary>A seed for one random stream of one step: SplitMix64 of (seed, step, stream), non-negative.</summary>
    long StepSeed(long step, ulong stream) => (long)(Mix(Mix(Mix((ulong)Seed) ^ (ulong)step) ^ stream) >> 1);

    /// <summary>A seed for one example's draws of one stream: SplitMix64 of (seed, step, stream, index in the global batch).</summary>
    long ExampleSeed(long step, ulong stream, long example) => (long)(Mix((ulong)StepSeed(step, stream) ^ (ulong)example) >> 1);

    static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    static double[] ToDoubles(Tensor values) => values.detach().to(ScalarType.Float64).cpu().data<double>().ToArray();

    void Notify(Action<ITrainingObserver> report)
    {
        if (!Communicator.IsRoot) return;
        foreach (var observer in observers) report(observer);
    }

    public void Dispose()
    {
        optimizer.Dispose();
        foreach (var average in averages) average.Dispose();
        collectives.Dispose();
    }
}
