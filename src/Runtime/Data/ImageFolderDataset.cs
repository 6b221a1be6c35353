namespace ImprovedDdpm;

/// <summary>
/// A folder of image files, searched recursively (reference: <c>load_data</c> with <c>_list_image_files_recursively</c>
/// and <c>ImageDataset</c>). Each item is decoded and preprocessed by <see cref="ReferenceImageTransform"/> on demand;
/// every file's header is checked when the folder is opened, so a bad file is named at once, not hours into training.
/// </summary>
/// <remarks>
/// Files are found as the reference finds them: each folder's entries sorted by code point (Python's <c>sorted</c>), an
/// entry whose extension after the last dot is jpg, jpeg, png or gif (any case) taken as an image, any other folder
/// searched in place; so the order is depth-first in sorted order, not a sort of full paths. Class-conditional labels
/// come from the file name up to its first underscore (the whole name, extension included, when it has none, as in
/// the reference); the classes are the distinct prefixes sorted, numbered from 0.
/// </remarks>
public sealed class ImageFolderDataset : IImageDataset
{
    static readonly string[] Extensions = ["jpg", "jpeg", "png", "gif"];

    readonly string[] files;
    readonly int[]? labels;

    /// <summary>The most bad files one message lists; the count of the rest follows.</summary>
    const int ListedProblems = 20;

    /// <summary>Lists the images under <paramref name="folder"/> and checks their headers; no pixels are decoded yet.</summary>
    /// <param name="classConditional">Label each image with its file-name prefix (the reference's <c>class_cond</c>).</param>
    /// <param name="checkHeaders">Read every file's header now (<see cref="ImageFileCheck.Problem"/>, about 0.1 ms a
    /// small file) and refuse the folder if any is empty, not an image or cut short.</param>
    /// <exception cref="DataException">The folder does not exist, holds no image, or holds files that are not images
    /// (each named with the reason).</exception>
    public ImageFolderDataset(string folder, int imageSize, bool classConditional = false, bool checkHeaders = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 1);
        if (!Directory.Exists(folder))
            throw new DataException(folder, $"image folder {folder} does not exist");
        Source = folder;
        ImageSize = imageSize;
        files = ListImageFiles(folder).ToArray();
        if (files.Length == 0)
            throw new DataException(folder, $"{folder} holds no images: no .jpg, .jpeg, .png or .gif file in it or any folder below it");
        if (checkHeaders) CheckHeaders(folder, files);
        if (classConditional)
        {
            var prefixes = files.Select(ClassPrefix).ToArray();
            var classes = prefixes.Distinct().Order(CodePointComparer.Instance).ToArray();
            var index = classes.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
            labels = prefixes.Select(p => index[p]).ToArray();
            ClassNames = classes;
        }
    }

    /// <inheritdoc />
    public string Source { get; }

    /// <inheritdoc />
    public int Count => files.Length;

    /// <inheritdoc />
    public int ImageSize { get; }

    /// <inheritdoc />
    public int Channels => 3;

    /// <inheritdoc />
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>The image files in item order.</summary>
    public IReadOnlyList<string> Files => files;

    /// <summary>Each item's label, or <see langword="null"/> when not class-conditional.</summary>
    public IReadOnlyList<int>? Labels => labels;

    /// <inheritdoc />
    public int? Decode(int index, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, files.Length);
        ReferenceImageTransform.LoadFile(files[index], ImageSize, destination);
        return labels?[index];
    }

    static void CheckHeaders(string folder, string[] files)
    {
        var problems = new List<string>();
        var bad = 0;
        foreach (var file in files)
        {
            if (ImageFileCheck.Problem(file) is not { } problem) continue;
            if (++bad <= ListedProblems) problems.Add($"  {Path.GetRelativePath(folder, file)}: {problem}");
        }
        if (bad == 0) return;
        if (bad > ListedProblems) problems.Add($"  … and {bad - ListedProblems} more");
        var count = bad == 1 ? "1 file" : $"{bad} files";
        throw new DataException(folder,
            $"{folder}: {count} of {files.Length} cannot be used as images (fix or remove them):{Environment.NewLine}{string.Join(Environment.NewLine, problems)}");
    }

    /// <summary>The class name the reference derives from a file: its name up to the first underscore.</summary>
    public static string ClassPrefix(string path)
    {
        var name = Path.GetFileName(path);
        var underscore = name.IndexOf('_', StringComparison.Ordinal);
        return underscore < 0 ? name : name[..underscore];
    }

    /// <summary>The image files under <paramref name="folder"/> in the reference's order (see the remarks above).</summary>
    public static IEnumerable<string> ListImageFiles(string folder)
    {
        var entries = Directory.EnumerateFileSystemEntries(folder)
            .Order(Comparer<string>.Create((a, b) => CodePointComparer.Instance.Compare(Path.GetFileName(a), Path.GetFileName(b))));
        foreach (var entry in entries)
        {
            var name = Path.GetFileName(entry);
            var dot = name.LastIndexOf('.');
            if (dot >= 0 && Extensions.Contains(name[(dot + 1)..].ToLowerInvariant()) && File.Exists(entry))
            {
                yield return entry;
            }
            else if (Directory.Exists(entry))
            {
                foreach (var file in ListImageFiles(entry))
                    yield return file;
            }
        }
    }
}

/// <summary>Orders strings by Unicode code point, as Python's <c>sorted</c> does (ordinal UTF-16 order differs above U+D7FF).</summary>
sealed class CodePointComparer : IComparer<string>
{
    public static readonly CodePointComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null) return x is null ? (y is null ? 0 : -1) : 1;
        var a = x.EnumerateRunes();
        var b = y.EnumerateRunes();
        while (true)
        {
            var hasA = a.MoveNext();
            var hasB = b.MoveNext();
            if (!hasA || !hasB) return hasA.CompareTo(hasB);
            var order = a.Current.Value.CompareTo(b.Current.Value);
            if (order != 0) return order;
        }
    }
}
