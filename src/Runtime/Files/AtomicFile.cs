namespace ImprovedDdpm;

/// <summary>
/// Whole-or-nothing file writes: the content goes to a temporary file beside the target, is flushed to disk and then
/// renamed over the target, so a reader (or a run resumed after a crash) never sees half a file.
/// </summary>
static class AtomicFile
{
    public static void Write(string path, Action<Stream> write) =>
        WriteFile(path, temporary =>
        {
            using var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write);
            write(stream);
        });

    /// <summary>For writers that take a path: <paramref name="writeTemporary"/> writes the file it is given, which then replaces <paramref name="path"/>.</summary>
    public static void WriteFile(string path, Action<string> writeTemporary)
    {
        var fullPath = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, TemporaryName(Path.GetFileName(fullPath)));
        try
        {
            writeTemporary(temporary);
            using (var written = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite)) written.Flush(flushToDisk: true);
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>The name of a temporary file for <paramref name="fileName"/>: hidden, unique, and recognisable by <see cref="TargetOfTemporary"/>.</summary>
    static string TemporaryName(string fileName) => $".{fileName}.{Guid.NewGuid():N}.tmp";

    /// <summary>
    /// The name of the file that <paramref name="fileName"/> was a temporary copy of, if it is a temporary name of
    /// <see cref="TemporaryName"/> ("." + name + "." + 32 hex digits + ".tmp"); null for any other name. A temporary file
    /// left behind is a write that was interrupted (a crash or kill before the rename).
    /// </summary>
    public static string? TargetOfTemporary(string fileName)
    {
        const int GuidLength = 32;
        const string Suffix = ".tmp";
        if (!fileName.StartsWith('.') || !fileName.EndsWith(Suffix, StringComparison.Ordinal)) return null;
        var guidStart = fileName.Length - Suffix.Length - GuidLength;
        if (guidStart < 3 || fileName[guidStart - 1] != '.') return null;
        var guid = fileName.AsSpan(guidStart, GuidLength);
        foreach (var c in guid)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return null;
        }
        return fileName[1..(guidStart - 1)];
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(text);
        });
}
