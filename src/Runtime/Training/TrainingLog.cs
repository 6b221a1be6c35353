using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ImprovedDdpm;

/// <summary>
/// The reference logger's names of the logged values: the columns of <c>progress.csv</c> (which the command-line tool
/// reads back for its plots) and the keys of a checkpoint's pending log.
/// </summary>
public static class TrainingLogColumns
{
    public const string Step = "step";
    public const string Samples = "samples";
    public const string SamplesPerSecond = "samples/s";
    public const string Lr = "lr";
    public const string GradNorm = "grad_norm";

    /// <summary>The term's key: <c>loss</c>, <c>mse</c> or <c>vb</c>.</summary>
    public static string Of(LossTerm term) => term switch
    {
        LossTerm.Loss => "loss",
        LossTerm.Mse => "mse",
        LossTerm.Vb => "vb",
        _ => throw new ArgumentOutOfRangeException(nameof(term)),
    };

    /// <summary>The key of the term's mean over one quarter of the schedule: <c>loss_q0</c>…<c>loss_q3</c>.</summary>
    public static string Of(LossTerm term, int quartile) => string.Create(CultureInfo.InvariantCulture, $"{Of(term)}_q{quartile}");

    /// <summary>The value columns of a row, in file order: the gradient norm, then each logged term with its quartiles.</summary>
    public static IReadOnlyList<string> ValueColumns(IEnumerable<LossTerm> terms)
    {
        var columns = new List<string> { GradNorm };
        foreach (var term in terms.Order())
        {
            columns.Add(Of(term));
            for (var q = 0; q < 4; q++) columns.Add(Of(term, q));
        }
        return columns;
    }
}

/// <summary>
/// The reference's <c>logkv_mean</c> over one logging interval: every value logged under a key is averaged with equal
/// weight (one per microbatch for the losses, one per example for their quartiles, one per step for the gradient
/// norm), until the interval's row is taken.
/// </summary>
sealed class TrainingLogAccumulator
{
    /// <summary>What a sum is of: a term's mean (no quartile), a term's quartile, or the gradient norm (no term).</summary>
    readonly record struct Key(LossTerm? Term, int? Quartile = null)
    {
        public static readonly Key GradNorm = new(null);

        public string Name => Term is not { } term ? TrainingLogColumns.GradNorm
            : Quartile is { } q ? TrainingLogColumns.Of(term, q) : TrainingLogColumns.Of(term);
    }

    static readonly Dictionary<string, Key> KeysByName = Enum.GetValues<LossTerm>()
        .SelectMany(term => Enumerable.Range(0, 4).Select(q => new Key(term, q)).Prepend(new Key(term)))
        .Append(Key.GradNorm)
        .ToDictionary(key => key.Name);

    readonly Dictionary<Key, LogSum> sums = [];
    readonly Stopwatch clock = new();
    long timedSamples;

    void Add(Key key, double value)
    {
        sums.TryGetValue(key, out var sum);
        sums[key] = new LogSum((sum?.Sum ?? 0) + value, (sum?.Count ?? 0) + 1);
    }

    /// <summary>Logs one step's gradient norm.</summary>
    public void AddGradNorm(double value) => Add(Key.GradNorm, value);

    /// <summary>Logs a loss term as the reference's <c>log_loss_dict</c>: its mean, and each example under its quartile.</summary>
    public void AddTerm(LossTerm term, double[] weightedValues, long[] timesteps, int numTimesteps)
    {
        Add(new Key(term), weightedValues.Average());
        for (var i = 0; i < weightedValues.Length; i++)
            Add(new Key(term, (int)(4 * timesteps[i] / numTimesteps)), weightedValues[i]);
    }

    /// <summary>
    /// Starts timing, if not already running, at the start of a step: a row's throughput is its steps' examples over
    /// the time from the start of its first step (since the last row, or since a restart) to the row.
    /// </summary>
    public void StepStarting()
    {
        if (!clock.IsRunning) clock.Start();
    }

    /// <summary>Counts a step's examples towards the throughput.</summary>
    public void AddSamples(long samples) => timedSamples += samples;

    /// <summary>Stops timing (between calls to Run, time does not count).</summary>
    public void Pause() => clock.Stop();

    public bool IsEmpty => sums.Count == 0;

    /// <summary>Steps logged since the last row (each logs one gradient norm).</summary>
    public long PendingSteps => sums.TryGetValue(Key.GradNorm, out var sum) ? sum.Count : 0;

    public TrainingLogRow TakeRow(long step, long samples, double lr)
    {
        var seconds = clock.Elapsed.TotalSeconds;
        var throughput = seconds > 0 ? timedSamples / seconds : 0;
        double? Mean(Key key) => sums.TryGetValue(key, out var sum) ? sum.Sum / sum.Count : null;
        var terms = Enum.GetValues<LossTerm>()
            .Where(term => sums.ContainsKey(new Key(term)))
            .ToDictionary(term => term, term => new TermAverages(Mean(new Key(term))!.Value, [.. Enumerable.Range(0, 4).Select(q => Mean(new Key(term, q)))]));
        var row = new TrainingLogRow(step, samples, throughput, lr, Mean(Key.GradNorm) ?? double.NaN, terms);
        sums.Clear();
        clock.Reset();
        timedSamples = 0;
        return row;
    }

    /// <summary>The interval so far by the reference's key names, as a checkpoint records it.</summary>
    public Dictionary<string, LogSum> Snapshot() => sums.ToDictionary(entry => entry.Key.Name, entry => entry.Value);

    /// <exception cref="InvalidDataException">The snapshot has a key this logger does not log.</exception>
    public void Restore(Dictionary<string, LogSum>? snapshot)
    {
        sums.Clear();
        clock.Reset();
        timedSamples = 0;
        if (snapshot is null) return;
        foreach (var (name, sum) in snapshot)
            sums[KeysByName.TryGetValue(name, out var key) ? key : throw new InvalidDataException($"the pending log has an unknown key \"{name}\"")] = sum;
    }
}

/// <summary>
/// <c>progress.csv</c> of a run (the reference logger's CSV output): a header once, then one row per logging interval
/// with <c>step, samples, samples/s, lr, grad_norm, loss, loss_q0 … loss_q3</c> and, when the loss has them, the same
/// for <c>mse</c> and <c>vb</c>. Numbers are invariant and round-trip; a quartile no example fell into is empty. A
/// resumed run appends, after dropping rows of steps the checkpoint had not reached.
/// </summary>
public sealed class CsvProgressLog(string path)
{
    static readonly string[] LeadingColumns = [TrainingLogColumns.Step, TrainingLogColumns.Samples, TrainingLogColumns.SamplesPerSecond, TrainingLogColumns.Lr];

    /// <summary>The file written.</summary>
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <summary>Appends a row, writing the header first if the file is new.</summary>
    /// <exception cref="InvalidOperationException">The file exists with other columns.</exception>
    public void Append(TrainingLogRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var header = string.Join(",", LeadingColumns.Concat(TrainingLogColumns.ValueColumns(row.Terms.Keys)));
        var existing = File.Exists(Path) ? File.ReadLines(Path).FirstOrDefault() : null;
        if (existing is not null && existing != header)
            throw new InvalidOperationException($"{Path} has the columns \"{existing}\"; this run logs \"{header}\". Log to another folder.");

        var line = new StringBuilder();
        line.Append(string.Join(",", Format(row.Step), Format(row.Samples), Format(row.SamplesPerSecond), Format(row.Lr)));
        line.Append(',').Append(Format(row.GradNorm));
        foreach (var (_, averages) in row.Terms.OrderBy(term => term.Key))
        {
            line.Append(',').Append(Format(averages.Mean));
            foreach (var quartile in averages.Quartiles) line.Append(',').Append(quartile is { } value ? Format(value) : "");
        }
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        File.AppendAllText(Path, (existing is null ? header + "\n" : "") + line + "\n");
    }

    /// <summary>Drops the rows of steps ≥ <paramref name="step"/> (logged after the checkpoint a run resumes from), and any row a crash cut short.</summary>
    public void DropRowsFrom(long step)
    {
        if (!File.Exists(Path)) return;
        var lines = File.ReadAllLines(Path);
        if (lines.Length == 0) return;
        // A row cut short by a crash has fewer cells than the header: dropped too.
        var columns = lines[0].Split(',').Length;
        var kept = lines.Take(1).Concat(lines.Skip(1).Where(line => line.Split(',') is var cells && cells.Length == columns &&
            long.TryParse(cells[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var rowStep) && rowStep < step)).ToList();
        if (kept.Count == lines.Length) return;
        AtomicFile.WriteAllText(Path, string.Concat(kept.Select(line => line + "\n")));
    }

    static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
