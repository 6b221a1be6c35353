using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace ImprovedDdpm;

/// <summary>
/// What a run's exact continuation depends on besides its checkpoint: the model, the batch and microbatch sizes (they
/// fix the data position and the draws of every step) and the data set. Recorded in every state file, so that a
/// resume with other inputs is refused instead of silently continuing a different run.
/// </summary>
/// <param name="Model">The model's name, or null when not known.</param>
/// <param name="Microbatch">The effective microbatch size (the batch size when there are no microbatches).</param>
/// <param name="Data">The data set, or null when the run's data is not identified (batches from a caller's own loader).</param>
/// <param name="Processes">The number of processes (MPI ranks) training together; state files written before it was
/// recorded read as 1.</param>
public sealed record RunInputs(string? Model, int ImageSize, int BatchSize, int Microbatch, DataIdentity? Data, int Processes = 1)
{
    /// <summary>The inputs of training <paramref name="model"/> on <paramref name="dataset"/> with <paramref name="options"/> over <paramref name="processes"/> ranks.</summary>
    public static RunInputs Of(string model, IImageDataset dataset, TrainingOptions options, int processes = 1)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        return new RunInputs(model, dataset.ImageSize, options.BatchSize, Math.Min(options.MicrobatchSize, options.BatchSize), DataIdentity.Of(dataset), processes);
    }

    /// <summary>
    /// What differs between the inputs a run was saved with (this) and <paramref name="now"/>, one phrase each, naming
    /// the option; empty when a resume continues the run exactly. Inputs a side does not record are not compared.
    /// </summary>
    public IReadOnlyList<string> Differences(RunInputs now)
    {
        ArgumentNullException.ThrowIfNull(now);
        var differences = new List<string>();
        if (Model is not null && now.Model is not null && Model != now.Model)
            differences.Add($"the model: the run trained {Model}, this is {now.Model}");
        if (ImageSize != now.ImageSize)
            differences.Add(Text($"the image size: the run's is {ImageSize}, now {now.ImageSize}"));
        if (BatchSize != now.BatchSize)
            differences.Add(Text($"--batch-size: the run's is {BatchSize}, now {now.BatchSize}"));
        // The data split, the microbatch sums and the dropout masks follow the number of processes, so another K is
        // another run even at the same global batch.
        if (Processes != now.Processes)
            differences.Add(Text($"the number of processes: the run trained on {Processes} (mpiexec -n {Processes}), now {now.Processes}"));
        if (Microbatch != now.Microbatch)
            differences.Add(Text($"--microbatch: the run's microbatches hold {Microbatch} examples, now {now.Microbatch}"));
        if (Data is { } then && now.Data is { } data)
        {
            if (then.Count != data.Count)
                differences.Add(Text($"--data-dir: the run trained on {then.Count} examples ({then.Source}), {data.Source} holds {data.Count}"));
            else if (then.Fingerprint is not null && data.Fingerprint is not null && then.Fingerprint != data.Fingerprint)
                differences.Add(Text($"--data-dir: {data.Source} holds as many examples ({data.Count}) as the run's {then.Source}, but other files (names or sizes differ)"));
        }
        return differences;
    }

    static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A cheap identity of a data set: where it was read from (for messages), how many examples it has, and a fingerprint
/// of its files' names (relative to the data folder, so a moved folder still matches) and sizes, in item order. Files
/// are not read: renaming, adding, removing or resizing a file changes it; editing pixels in place does not.
/// </summary>
/// <param name="Fingerprint">XxHash64 of the files' relative names and sizes, hex; null for a data set of unknown kind.</param>
public sealed record DataIdentity(string Source, int Count, string? Fingerprint)
{
    /// <summary>The identity of an opened data set (an image folder, CIFAR-10 batches or an .npz; others by count alone).</summary>
    public static DataIdentity Of(IImageDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var source = Path.GetFullPath(dataset.Source);
        IReadOnlyList<string>? files = dataset switch
        {
            ImageFolderDataset folder => folder.Files,
            Cifar10Dataset cifar => cifar.Files,
            NpzDataset => [dataset.Source],
            _ => null,
        };
        return new DataIdentity(source, dataset.Count, files is null ? null : FingerprintOf(source, files));
    }

    static string FingerprintOf(string source, IReadOnlyList<string> files)
    {
        var hash = new XxHash64();
        // A single file given directly is identified by its size alone: its name is the user's choice of path.
        var folder = Directory.Exists(source) ? source : null;
        foreach (var file in files)
        {
            var name = folder is null ? "" : Path.GetRelativePath(folder, Path.GetFullPath(file)).Replace('\\', '/');
            hash.Append(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{name}\0{new FileInfo(file).Length}\n")));
        }
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }
}
