namespace ImprovedDdpm;

/// <summary>
/// What a training run reports as it goes, for a console display or a dashboard. Every method has an empty default,
/// so an observer implements only what it shows. Calls come on the training thread, between steps; a slow observer
/// slows training.
/// </summary>
public interface ITrainingObserver
{
    /// <summary>Before the first step of <see cref="TrainLoop.Run"/>.</summary>
    void OnStarted(TrainingStarted started) { }

    /// <summary>After every optimiser step.</summary>
    void OnStep(TrainingStep step) { }

    /// <summary>Every <see cref="TrainingOptions.LogInterval"/> steps, with the interval's averages (the row of <c>progress.csv</c>).</summary>
    void OnLog(TrainingLogRow row) { }

    /// <summary>After a checkpoint is complete on disk.</summary>
    void OnCheckpointSaved(TrainingCheckpoint checkpoint) { }
}

/// <summary>A run about to take its first step.</summary>
/// <param name="Step">Steps already done (0 for a fresh run, the checkpoint's for a resumed one).</param>
/// <param name="ResumedFrom">The checkpoint the run continues, if any.</param>
/// <param name="ParameterCount">Trainable parameters of the network.</param>
public sealed record TrainingStarted(string RunDirectory, long Step, TrainingCheckpoint? ResumedFrom, long ParameterCount, TrainingOptions Options);

/// <summary>One optimiser step, as the reference numbers it.</summary>
/// <param name="Step">The step's index: 0 for the first step of a run (the reference's logged <c>step</c>).</param>
/// <param name="Samples">Examples seen once this step is done: (Step + 1)·BatchSize.</param>
/// <param name="Loss">The loss that was minimised: the mean over microbatches of mean(loss·weights).</param>
/// <param name="GradNorm">√(Σ grad²) over all parameters, before the update (reference: <c>grad_norm</c>).</param>
/// <param name="Lr">The learning rate this step used.</param>
public sealed record TrainingStep(long Step, long Samples, double Loss, double GradNorm, double Lr);

/// <summary>
/// The averages of one logging interval, as the reference's <c>logger.dumpkvs</c> writes them: <c>loss</c>,
/// <c>mse</c>, <c>vb</c> (importance-weighted, as the reference logs them), their per-quartile means <c>loss_q0</c>…
/// <c>loss_q3</c> (quartile = ⌊4t/T⌋), <c>grad_norm</c>; plus the last step's index, the samples seen, the throughput
/// over the interval and the learning rate.
/// </summary>
/// <param name="Values">The averaged values by the reference's key; a quartile no example fell into is absent.</param>
public sealed record TrainingLogRow(long Step, long Samples, double SamplesPerSecond, double Lr, IReadOnlyDictionary<string, double> Values)
{
    /// <summary>The interval's mean loss.</summary>
    public double Loss => Values["loss"];

    /// <summary>The interval's mean gradient norm.</summary>
    public double GradNorm => Values["grad_norm"];
}

/// <summary>Why <see cref="TrainLoop.Run"/> returned.</summary>
public enum TrainingStopReason
{
    /// <summary><see cref="TrainingOptions.MaxSteps"/> steps are done.</summary>
    MaxSteps,

    /// <summary>The learning rate reached 0 after <see cref="TrainingOptions.LrAnnealSteps"/> steps.</summary>
    Annealed,

    /// <summary>The cancellation token was signalled; a checkpoint was saved.</summary>
    Cancelled,

    /// <summary>The data ran out.</summary>
    DataExhausted,
}

/// <summary>The end of a call to <see cref="TrainLoop.Run"/>.</summary>
/// <param name="Step">Optimiser steps done in total.</param>
/// <param name="Checkpoint">The checkpoint saved on the way out (the newest complete one).</param>
public sealed record TrainingResult(long Step, TrainingStopReason Reason, TrainingCheckpoint Checkpoint);
