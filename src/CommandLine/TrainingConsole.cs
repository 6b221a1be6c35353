using System.Globalization;
using Spectre.Console;

namespace ImprovedDdpm;

/// <summary>
/// The live view of a training run in the terminal: a progress bar (step, loss, samples/s, time left when
/// <c>--max-steps</c> is known), a line per logging interval with the reference's logged values, and a line per
/// checkpoint. Redirected output gets the lines without the animation.
/// </summary>
sealed class TrainingConsole(IAnsiConsole console, string modelName, long? maxSteps) : ITrainingObserver, IDisposable
{
    ProgressTask? task;

    /// <summary>Runs <paramref name="train"/> under the live progress display.</summary>
    public T Run<T>(Func<T> train)
    {
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                task = context.AddTask($"{modelName}: starting", maxValue: 1);
                task.IsIndeterminate = maxSteps is null;
                result = train();
            });
        return result;
    }

    public void OnStarted(TrainingStarted started)
    {
        var options = started.Options;
        var from = started.ResumedFrom is { } checkpoint ? $", resumed from step {checkpoint.Step}" : "";
        console.MarkupLine($"[bold]{Markup.Escape(modelName)}[/]: {started.ParameterCount.ToString("N0", CultureInfo.InvariantCulture)} parameters, " +
            $"batch {options.BatchSize}, lr {Number(options.Lr)}, EMA {string.Join(",", options.EmaRates.Select(Number))}, {options.ScheduleSampler} timesteps{from}");
        console.MarkupLine($"run folder [link]{Markup.Escape(started.RunDirectory)}[/]");
        if (task is null) return;
        task.MaxValue = maxSteps ?? 1;
        task.Value = started.Step;
    }

    public void OnStep(TrainingStep step)
    {
        if (task is null) return;
        if (maxSteps is not null) task.Value = step.Step + 1;
        task.Description = $"step {step.Step + 1}{(maxSteps is { } max ? "/" + max : "")}  loss {Number(step.Loss)}";
    }

    public void OnLog(TrainingLogRow row)
    {
        var values = string.Join("  ", ShownValues(row).Select(value => $"{value.Name} {Number(value.Value)}"));
        console.MarkupLine($"[grey]step {row.Step}[/]  {Markup.Escape(values)}  [grey]{row.SamplesPerSecond.ToString("F1", CultureInfo.InvariantCulture)} samples/s[/]");
    }

    public void OnCheckpointSaved(TrainingCheckpoint checkpoint) =>
        console.MarkupLine($"[green]saved[/] step {checkpoint.Step}: {Markup.Escape(Path.GetFileName(checkpoint.ModelPath))}" +
            (checkpoint.Ema.Count > 0 ? ", " + string.Join(", ", checkpoint.Ema.Select(e => Path.GetFileName(e.Path))) : "") +
            $", {Path.GetFileName(checkpoint.OptimizerPath)}");

    /// <summary>Each term's mean, the loss per quartile of t, then the gradient norm.</summary>
    static IEnumerable<(string Name, double Value)> ShownValues(TrainingLogRow row)
    {
        foreach (var (term, averages) in row.Terms.OrderBy(term => term.Key)) yield return (TrainingLogColumns.Of(term), averages.Mean);
        var quartiles = row.Terms[LossTerm.Loss].Quartiles;
        for (var q = 0; q < quartiles.Count; q++)
        {
            if (quartiles[q] is { } value) yield return (TrainingLogColumns.Of(LossTerm.Loss, q), value);
        }
        yield return (TrainingLogColumns.GradNorm, row.GradNorm);
    }

    static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    public void Dispose() => task?.StopTask();
}
