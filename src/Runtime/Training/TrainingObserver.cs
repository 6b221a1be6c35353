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
/// The averages of one logging interval, as the reference's <c>logger.dumpkvs</c> writes them: each loss term
/// (importance-weighted, as the reference logs them) with its per-quartile means (quartile = ⌊4t/T⌋), and the gradient
/// norm; plus the last step's index, the samples seen, the throughput over the interval and the learning rate.
/// </summary>
/// <param name="Terms">The terms the loss has: always <see cref="LossTerm.Loss"/>, <see cref="LossTerm.Mse"/> and
/// <see cref="LossTerm.Vb"/> when the loss type has them.</param>
public sealed record TrainingLogRow(long Step, long Samples, double SamplesPerSecond, double Lr, double GradNorm, IReadOnlyDictionary<LossTerm, TermAverages> Terms)
{
    /// <summary>The interval's mean loss.</summary>
    public double Loss => Terms[LossTerm.Loss].Mean;
}

/// <summary>A loss term's averages over a logging interval.</summary>
/// <param name="Quartiles">The means over the examples whose t fell in each quarter of the schedule (the reference's
/// <c>loss_q0</c>…<c>loss_q3</c>); null where no example fell.</param>
public sealed record TermAverages(double Mean, IReadOnlyList<double?> Quartiles);

/// <summary>The terms of the training loss the reference logs (see <see cref="LossTerms"/>).</summary>
public enum LossTerm
{
    /// <summary>The loss that is minimised.</summary>
    Loss,

    /// <summary>The mean-squared error part of a hybrid or MSE loss.</summary>
    Mse,

    /// <summary>The variational-bound part of a hybrid loss.</summary>
    Vb,
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
