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
        var temporary = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
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

    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(text);
        });
}
