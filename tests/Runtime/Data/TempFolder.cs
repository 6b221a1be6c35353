namespace ImprovedDdpm.Tests.Runtime.Data;

/// <summary>A fresh folder under the system's temp path, deleted with everything in it on dispose.</summary>
sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"improved-ddpm-data-{Guid.NewGuid():N}");

    /// <summary>The full path of <paramref name="relative"/>, its folder created.</summary>
    public string File(string relative)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        return full;
    }

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
