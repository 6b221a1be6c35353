using System.Globalization;

namespace ImprovedDdpm;

/// <summary>
/// A step produced a NaN or infinite loss or gradient. Training stops before the optimiser step, so nothing of that
/// step reaches the weights or the disk: <see cref="LastCheckpoint"/> (if any) is the newest complete checkpoint.
/// Resume from it, perhaps with a lower learning rate; the loop object itself is not fit to continue.
/// </summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(long step, string quantity, double value, TrainingCheckpoint? lastCheckpoint)
        : base(Describe(step, quantity, value, lastCheckpoint))
    {
        Step = step;
        Quantity = quantity;
        Value = value;
        LastCheckpoint = lastCheckpoint;
    }

    /// <summary>The index of the step that diverged (0 for a run's first step, as the log numbers steps).</summary>
    public long Step { get; }

    /// <summary>What was not finite: "loss" or "gradient norm".</summary>
    public string Quantity { get; }

    /// <summary>The offending value.</summary>
    public double Value { get; }

    /// <summary>The newest complete checkpoint, untouched by the diverged step; null if none was saved yet.</summary>
    public TrainingCheckpoint? LastCheckpoint { get; }

    static string Describe(long step, string quantity, double value, TrainingCheckpoint? lastCheckpoint)
    {
        var where = lastCheckpoint is null
            ? "no checkpoint had been saved yet"
            : $"the last good checkpoint is step {lastCheckpoint.Step} ({lastCheckpoint.StatePath})";
        return string.Create(CultureInfo.InvariantCulture,
            $"Training diverged at step {step}: the {quantity} is {value}. Nothing of this step was applied or saved; {where}.");
    }
}
