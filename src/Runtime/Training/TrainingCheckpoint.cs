using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace ImprovedDdpm;

/// <summary>One saved moving average: its rate and its file.</summary>
public sealed record EmaCheckpoint(double Rate, string Path);

/// <summary>
/// A complete checkpoint of a training run, saved after <see cref="Step"/> optimiser steps. Its files are named as
/// the reference names them — <c>model{step:06d}.pt</c>, <c>ema_{rate}_{step:06d}.pt</c>, <c>opt{step:06d}.pt</c>,
/// PyTorch-readable — plus <c>state{step:06d}.json</c> with what exact resumption needs beyond the weights (the
/// step, the data position, the seed, the loss-second-moment sampler's history, the log interval in progress). The
/// state file is written last, atomically, and names the others: a checkpoint without it is incomplete and ignored,
/// so a crash while saving leaves the previous checkpoint the newest loadable one.
/// </summary>
public sealed partial record TrainingCheckpoint(string Directory, long Step, string StatePath, string ModelPath, string OptimizerPath,
    IReadOnlyList<EmaCheckpoint> Ema)
{
    const string StatePrefix = "state";
    const int CurrentFormat = 1;

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The reference's name for the weights after <paramref name="step"/> steps.</summary>
    public static string ModelFileName(long step) => string.Create(CultureInfo.InvariantCulture, $"model{step:D6}.pt");

    /// <summary>The reference's name for the optimizer state after <paramref name="step"/> steps.</summary>
    public static string OptimizerFileName(long step) => string.Create(CultureInfo.InvariantCulture, $"opt{step:D6}.pt");

    /// <summary>The name of the state file that completes the checkpoint after <paramref name="step"/> steps.</summary>
    public static string StateFileName(long step) => string.Create(CultureInfo.InvariantCulture, $"{StatePrefix}{step:D6}.json");

    /// <summary>
    /// The step in a checkpoint file's name, read as the reference's <c>parse_resume_step_from_filename</c> does: the
    /// digits after the last "model" up to the next '.'; null when there are none.
    /// </summary>
    public static long? StepFromFileName(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        var start = name.LastIndexOf("model", StringComparison.Ordinal);
        if (start < 0) return null;
        var digits = name[(start + "model".Length)..].Split('.')[0];
        return digits.Length > 0 && digits.All(char.IsAsciiDigit) && long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var step)
            ? step
            : null;
    }

    /// <summary>
    /// The complete checkpoint with the most steps in <paramref name="runDirectory"/>, or null if there is none: the
    /// step is read from each state file (not from file names), and a state file whose files are missing, or which
    /// cannot be read, is skipped.
    /// </summary>
    public static TrainingCheckpoint? FindLatest(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        if (!System.IO.Directory.Exists(runDirectory)) return null;
        return System.IO.Directory.EnumerateFiles(runDirectory, StatePrefix + "*.json")
            .Select(TryOpen)
            .Where(checkpoint => checkpoint is not null && checkpoint.FilesExist())
            .OrderByDescending(checkpoint => checkpoint!.Step)
            .FirstOrDefault();
    }

    /// <summary>
    /// The files of <paramref name="runDirectory"/> named as a checkpoint's files are (<c>model*.pt</c>, <c>opt*.pt</c>,
    /// <c>ema_*_*.pt</c>, <c>state*.json</c> with a step number), complete checkpoints or not, ordered by name; empty if
    /// the folder does not exist. A new run must not start in a folder that has any: it would overwrite them.
    /// </summary>
    public static IReadOnlyList<string> CheckpointFiles(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        if (!System.IO.Directory.Exists(runDirectory)) return [];
        return System.IO.Directory.EnumerateFiles(runDirectory)
            .Where(path => CheckpointFileName().IsMatch(System.IO.Path.GetFileName(path)))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Deletes the temporary files that interrupted saves left in <paramref name="runDirectory"/> (see
    /// <see cref="AtomicFile"/>): only temporary copies of a checkpoint's files, <c>progress.csv</c> and
    /// <c>loss.png</c>, nothing else. Returns the names deleted.
    /// </summary>
    public static IReadOnlyList<string> DeleteInterruptedSaves(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        if (!System.IO.Directory.Exists(runDirectory)) return [];
        var deleted = new List<string>();
        foreach (var path in System.IO.Directory.EnumerateFiles(runDirectory, ".*.tmp").Order(StringComparer.Ordinal).ToList())
        {
            var name = System.IO.Path.GetFileName(path);
            if (AtomicFile.TargetOfTemporary(name) is not { } target ||
                !(CheckpointFileName().IsMatch(target) || target is TrainLoop.ProgressFileName or TrainingRun.LossCurveFileName))
                continue;
            File.Delete(path);
            deleted.Add(name);
        }
        return deleted;
    }

    /// <summary>The state files of <paramref name="runDirectory"/> with the step in their names, the newest first.</summary>
    internal static IReadOnlyList<(string Path, long Step)> StateFilesNewestFirst(string runDirectory)
    {
        if (!System.IO.Directory.Exists(runDirectory)) return [];
        var files = new List<(string Path, long Step)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(runDirectory, StatePrefix + "*.json"))
        {
            if (StateFileNamePattern().Match(System.IO.Path.GetFileName(path)) is { Success: true } match &&
                long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var step))
                files.Add((path, step));
        }
        return [.. files.OrderByDescending(file => file.Step)];
    }

    /// <summary>Reads a state file and checks that the files it names are there.</summary>
    /// <exception cref="InvalidDataException">The state file cannot be read as one.</exception>
    /// <exception cref="FileNotFoundException">A file it names is missing.</exception>
    internal static TrainingCheckpoint OpenComplete(string statePath)
    {
        var checkpoint = Open(statePath);
        foreach (var file in checkpoint.Ema.Select(e => e.Path).Prepend(checkpoint.OptimizerPath).Prepend(checkpoint.ModelPath))
        {
            if (!File.Exists(file))
                throw new FileNotFoundException($"{statePath} names {System.IO.Path.GetFileName(file)}, which is missing", file);
        }
        return checkpoint;
    }

    /// <summary>Checks the CRC-32 of every entry of every file of the checkpoint (see <see cref="ZipIntegrity"/>).</summary>
    /// <exception cref="InvalidDataException">A file is damaged or not a zip checkpoint; the message names it (and the entry).</exception>
    internal void Verify()
    {
        foreach (var file in Ema.Select(e => e.Path).Prepend(OptimizerPath).Prepend(ModelPath))
        {
            using var stream = File.OpenRead(file);
            ZipIntegrity.Verify(stream, file);
        }
    }

    [GeneratedRegex(@"^(model\d+\.pt|opt\d+\.pt|ema_.+_\d+\.pt|state\d+\.json)$", RegexOptions.CultureInvariant)]
    private static partial Regex CheckpointFileName();

    [GeneratedRegex(@"^state(\d+)\.json$", RegexOptions.CultureInvariant)]
    private static partial Regex StateFileNamePattern();

    /// <summary>Reads the checkpoint a state file describes.</summary>
    /// <exception cref="InvalidDataException">The file is not a training state this version reads.</exception>
    public static TrainingCheckpoint Open(string statePath)
    {
        var state = ReadState(statePath);
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(statePath))!;
        return new TrainingCheckpoint(folder, state.Step, System.IO.Path.GetFullPath(statePath),
            System.IO.Path.Combine(folder, state.Model), System.IO.Path.Combine(folder, state.Optimizer),
            state.Ema.Select(e => new EmaCheckpoint(e.Rate, System.IO.Path.Combine(folder, e.File))).ToList());
    }

    /// <summary>The saved average of <paramref name="rate"/>, if this checkpoint has one.</summary>
    public string? EmaPath(double rate) => Ema.FirstOrDefault(e => e.Rate == rate)?.Path;

    bool FilesExist() => File.Exists(ModelPath) && File.Exists(OptimizerPath) && Ema.All(e => File.Exists(e.Path));

    static TrainingCheckpoint? TryOpen(string statePath)
    {
        try
        {
            return Open(statePath);
        }
        catch (InvalidDataException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    internal TrainingState ReadState() => ReadState(StatePath);

    static TrainingState ReadState(string statePath)
    {
        TrainingState? state;
        try
        {
            state = JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(statePath), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{statePath} is not a training state file ({e.Message})", e);
        }
        if (state is null || state.Format != CurrentFormat || state.Model is null || state.Optimizer is null || state.Ema is null)
            throw new InvalidDataException($"{statePath} is not a training state file of format {CurrentFormat}.");
        return state;
    }

    internal static TrainingCheckpoint Write(string runDirectory, TrainingState state)
    {
        var path = System.IO.Path.Combine(runDirectory, StateFileName(state.Step));
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(state with { Format = CurrentFormat }, Json));
        return Open(path);
    }
}

/// <summary>The content of a <c>state*.json</c> file. File names are relative to its folder.</summary>
sealed record TrainingState
{
    public int Format { get; init; }
    public long Step { get; init; }
    public long BatchesConsumed { get; init; }
    public long Seed { get; init; }
    public string Model { get; init; } = "";
    public string Optimizer { get; init; } = "";
    public List<EmaFile> Ema { get; init; } = [];
    public ScheduleSampler ScheduleSampler { get; init; }

    /// <summary>The loss-second-moment sampler's held losses per timestep, oldest first.</summary>
    public double[][]? SamplerHistory { get; init; }

    /// <summary>The sums and counts of the log interval in progress.</summary>
    public Dictionary<string, LogSum>? PendingLog { get; init; }

    /// <summary>What identifies the run's inputs; absent in state files written before it was recorded.</summary>
    public RunInputs? Inputs { get; init; }

    public sealed record EmaFile(double Rate, string File);
}

/// <summary>A running sum of logged values.</summary>
sealed record LogSum(double Sum, long Count);

/// <summary>A checkpoint that resuming could not use: its state file, the step in the file's name, and why.</summary>
public sealed record UnusableCheckpoint(string StatePath, long Step, string Reason);
