using System.Globalization;

namespace ImprovedDdpm;

/// <summary>
/// The run-time settings of a training run (reference: the flags of <c>image_train.py</c> that reach
/// <c>TrainLoop</c>), plus what the reference leaves to chance: <see cref="Seed"/> and <see cref="MaxSteps"/>.
/// </summary>
public sealed record TrainingOptions
{
    // The defaults are the [Training] attribute's own, written once in src/Attributes.
    static readonly TrainingAttribute Declared = new();
    static readonly IReadOnlyList<double> DeclaredEmaRates = ParseEmaRates(Declared.EmaRate);

    /// <summary>AdamW learning rate (<c>--lr</c>, default 1e-4); the peak of the linear anneal when annealing.</summary>
    public double Lr { get; init; } = Declared.Lr;

    /// <summary>Examples per optimiser step (<c>--batch_size</c>, default 1). Every batch from the data must have this size.</summary>
    public int BatchSize { get; init; } = Declared.BatchSize;

    /// <summary>
    /// Split each batch into microbatches of this size, accumulating gradients; −1 uses the whole batch at once
    /// (<c>--microbatch</c>, default −1).
    /// </summary>
    public int Microbatch { get; init; } = Declared.Microbatch;

    /// <summary>Rates of the exponential moving averages of the weights (<c>--ema_rate</c>, default 0.9999).</summary>
    public IReadOnlyList<double> EmaRates { get; init; } = DeclaredEmaRates;

    /// <summary>AdamW's decoupled weight decay (<c>--weight_decay</c>, default 0).</summary>
    public double WeightDecay { get; init; } = Declared.WeightDecay;

    /// <summary>Anneal the learning rate linearly to 0 over this many steps, then stop; 0 disables (<c>--lr_anneal_steps</c>).</summary>
    public long LrAnnealSteps { get; init; } = Declared.LrAnnealSteps;

    /// <summary>Steps between rows of the progress log, each averaged over its interval (<c>--log_interval</c>, default 10).</summary>
    public int LogInterval { get; init; } = Declared.LogInterval;

    /// <summary>Steps between checkpoints (<c>--save_interval</c>, default 10000).</summary>
    public int SaveInterval { get; init; } = Declared.SaveInterval;

    /// <summary>Stop (and save) once this many optimiser steps are done in total; null trains until cancelled or annealed.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>
    /// The seed every random draw of training derives from, per step: timesteps, noise and the global generator
    /// (dropout). A resumed run draws exactly what the uninterrupted run would have.
    /// </summary>
    public long Seed { get; init; }

    /// <summary>How training timesteps are drawn (<c>--schedule_sampler</c>, default uniform).</summary>
    public ScheduleSampler ScheduleSampler { get; init; } = Declared.ScheduleSampler;

    /// <summary>The size of each microbatch: <see cref="Microbatch"/> if positive, else <see cref="BatchSize"/>.</summary>
    public int MicrobatchSize => Microbatch > 0 ? Microbatch : BatchSize;

    /// <summary>Parses the reference's comma-separated <c>--ema_rate</c> ("0.9999,0.99"); an empty string gives no average.</summary>
    /// <exception cref="FormatException">The text breaks <see cref="TrainingRules.ParseEmaRates"/>.</exception>
    public static IReadOnlyList<double> ParseEmaRates(string rates)
    {
        ArgumentNullException.ThrowIfNull(rates);
        if (TrainingRules.ParseEmaRates(rates, out var parsed) is { } rule)
            throw new FormatException($"EMA rates \"{rates}\" are not valid; they must be {rule}");
        return parsed;
    }

    /// <summary>
    /// Throws <see cref="TrainingOptionException"/> naming the first setting that breaks its <see cref="TrainingRules"/>
    /// rule (the rule the generator applies to <c>[Training]</c> at compile time).
    /// </summary>
    public void Validate()
    {
        Check(nameof(Lr), Lr, TrainingRules.Lr(Lr));
        Check(nameof(BatchSize), BatchSize, TrainingRules.BatchSize(BatchSize));
        Check(nameof(Microbatch), Microbatch, TrainingRules.Microbatch(Microbatch));
        if (EmaRates is null) throw new ArgumentException("EmaRates is null; use an empty list for no moving average");
        Check(nameof(EmaRates), string.Join(",", EmaRates.Select(r => r.ToString("R", CultureInfo.InvariantCulture))), TrainingRules.EmaRates(EmaRates));
        Check(nameof(WeightDecay), WeightDecay, TrainingRules.WeightDecay(WeightDecay));
        Check(nameof(LrAnnealSteps), LrAnnealSteps, TrainingRules.LrAnnealSteps(LrAnnealSteps));
        Check(nameof(LogInterval), LogInterval, TrainingRules.Interval(LogInterval));
        Check(nameof(SaveInterval), SaveInterval, TrainingRules.Interval(SaveInterval));
        if (MaxSteps is < 0) Check(nameof(MaxSteps), MaxSteps, "0 or a positive number of steps (unset trains until cancelled)");
    }

    static void Check(string name, object? value, string? rule)
    {
        if (rule is not null) throw new TrainingOptionException(name, string.Create(CultureInfo.InvariantCulture, $"{value}"), "must be " + rule);
    }
}

/// <summary>
/// A <see cref="TrainingOptions"/> setting out of range. <see cref="Option"/> is the property's name, kept apart from the
/// value and the rule so that the command-line tool can name its flag instead.
/// </summary>
public sealed class TrainingOptionException(string option, string value, string rule)
    : ArgumentException(string.Create(CultureInfo.InvariantCulture, $"training option {option} = {value} {rule}"))
{
    /// <summary>The <see cref="TrainingOptions"/> property.</summary>
    public string Option { get; } = option;

    /// <summary>The value given, as text.</summary>
    public string Value { get; } = value;

    /// <summary>What the value must be.</summary>
    public string Rule { get; } = rule;
}

