using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ImprovedDdpm;

/// <summary>
/// The reference's <c>logkv_mean</c> over one logging interval: every value logged under a key is averaged with equal
/// weight (one per microbatch for the losses, one per example for their quartiles, one per step for
/// <c>grad_norm</c>), until the interval's row is taken.
/// </summary>
sealed class TrainingLogAccumulator
{
    static readonly string[] TermOrder = ["loss", "mse", "vb"];

    readonly Dictionary<string, LogSum> sums = [];
    readonly Stopwatch clock = new();
    long timedSamples;

    public void Add(string key, double value)
    {
        sums.TryGetValue(key, out var sum);
        sums[key] = new LogSum((sum?.Sum ?? 0) + value, (sum?.Count ?? 0) + 1);
    }

    /// <summary>Logs a loss term as the reference's <c>log_loss_dict</c>: its mean, and each example under its quartile.</summary>
    public void AddTerm(string key, double[] weightedValues, long[] timesteps, int numTimesteps)
    {
        Add(key, weightedValues.Average());
        for (var i = 0; i < weightedValues.Length; i++)
            Add(string.Create(CultureInfo.InvariantCulture, $"{key}_q{4 * timesteps[i] / numTimesteps}"), weightedValues[i]);
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

    public TrainingLogRow TakeRow(long step, long samples, double lr)
    {
        var seconds = clock.Elapsed.TotalSeconds;
        var throughput = seconds > 0 ? timedSamples / seconds : 0;
        var values = sums.ToDictionary(entry => entry.Key, entry => entry.Value.Sum / entry.Value.Count);
        sums.Clear();
        clock.Reset();
        timedSamples = 0;
        return new TrainingLogRow(step, samples, throughput, lr, values);
    }

    public Dictionary<string, LogSum> Snapshot() => new(sums);

    public void Restore(Dictionary<string, LogSum>? snapshot)
    {
        sums.Clear();
        clock.Reset();
        timedSamples = 0;
        if (snapshot is null) return;
        foreach (var (key, sum) in snapshot) sums[key] = sum;
    }

    /// <summary>The value columns of a row: grad_norm, then each logged term with its quartiles.</summary>
    public static IReadOnlyList<string> ValueColumns(IReadOnlyDictionary<string, double> values)
    {
        var columns = new List<string> { "grad_norm" };
        foreach (var term in TermOrder.Where(values.ContainsKey))
        {
            columns.Add(term);
            for (var q = 0; q < 4; q++) columns.Add(string.Create(CultureInfo.InvariantCulture, $"{term}_q{q}"));
        }
        return columns;
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
    static readonly string[] LeadingColumns = ["step", "samples", "samples/s", "lr"];

    /// <summary>The file written.</summary>
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <summary>Appends a row, writing the header first if the file is new.</summary>
    /// <exception cref="InvalidOperationException">The file exists with other columns.</exception>
    public void Append(TrainingLogRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var valueColumns = TrainingLogAccumulator.ValueColumns(row.Values);
        var header = string.Join(",", LeadingColumns.Concat(valueColumns));
        var existing = File.Exists(Path) ? File.ReadLines(Path).FirstOrDefault() : null;
        if (existing is not null && existing != header)
            throw new InvalidOperationException($"{Path} has the columns \"{existing}\"; this run logs \"{header}\". Log to another folder.");

        var line = new StringBuilder();
        line.Append(string.Join(",", Format(row.Step), Format(row.Samples), Format(row.SamplesPerSecond), Format(row.Lr)));
        foreach (var column in valueColumns)
            line.Append(',').Append(row.Values.TryGetValue(column, out var value) ? Format(value) : "");
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
