namespace ImprovedDdpm;

/// <summary>
/// Where a command's results go, decided and checked before the work starts: sampling 50k images or a whole bound
/// takes hours, and finding an unwritable or taken output only afterwards throws those hours away.
/// </summary>
static class OutputFiles
{
    /// <summary>
    /// The output path for <paramref name="given"/>: <paramref name="defaultName"/> in the current folder when nothing is
    /// given, inside it when it is an existing folder or ends with a path separator (as <c>cp file dir/</c> does),
    /// else <paramref name="given"/> itself.
    /// </summary>
    public static string Resolve(string? given, string defaultName)
    {
        if (string.IsNullOrEmpty(given)) return defaultName;
        return EndsInSeparator(given) || Directory.Exists(given) ? Path.Combine(given, defaultName) : given;
    }

    /// <summary>
    /// Refuses, naming the file and <paramref name="option"/>: a file that exists unless <paramref name="overwrite"/>, a
    /// path that is a folder, and a folder that cannot be created or written (found by creating and deleting a probe
    /// file in it). Creates the missing folders.
    /// </summary>
    /// <exception cref="IOException">One of the above; nothing has been written.</exception>
    public static void Check(string option, bool overwrite, params string[] files)
    {
        foreach (var file in files)
        {
            if (Directory.Exists(file))
                throw new IOException($"{option}: {file} is a folder, not a file");
            if (File.Exists(file) && !overwrite)
                throw new IOException($"{file} already exists; pass --overwrite to replace it, or choose another {option}");
        }
        foreach (var file in files.DistinctBy(file => Path.GetDirectoryName(Path.GetFullPath(file)), StringComparer.Ordinal))
            CheckWritableFolder(option, file);
    }

    /// <summary>Refuses a <paramref name="path"/> given for a folder that is a file, or lies below one.</summary>
    /// <exception cref="IOException">The path or one of its parents is a file; the message says which.</exception>
    public static void CheckIsNoFile(string option, string path) => CheckNoFileOnTheWay(option, path, path);

    /// <summary>Refuses <paramref name="folder"/>, given as part of <paramref name="given"/>, if it or a parent is a file.</summary>
    static void CheckNoFileOnTheWay(string option, string folder, string given)
    {
        // Directory.CreateDirectory would say "The file … already exists", which reads as if the folder were fine.
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(given));
        for (var at = Path.GetFullPath(folder); !string.IsNullOrEmpty(at); at = Path.GetDirectoryName(at))
        {
            if (File.Exists(at))
                throw new IOException(at == full ? $"{option} {given} is a file, not a folder" : $"{option} {given}: {at} is a file, not a folder");
        }
    }

    static void CheckWritableFolder(string option, string file)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
        CheckNoFileOnTheWay(option, folder, file);
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".write-probe-{Guid.NewGuid():N}.tmp");
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{option}: cannot write into {folder} ({e.Message})", e);
        }
    }

    static bool EndsInSeparator(string path) =>
        path.EndsWith(Path.DirectorySeparatorChar) || path.EndsWith(Path.AltDirectorySeparatorChar);
}
