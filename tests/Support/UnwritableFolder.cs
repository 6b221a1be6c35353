namespace ImprovedDdpm.Tests.Support;

/// <summary>A folder nobody may create files in, not even root (tests run as root in containers, where chmod does not stop writes).</summary>
static class UnwritableFolder
{
    /// <summary>On Linux, sysfs refuses new files to everyone; on other Unix systems, a temp folder without write permission.</summary>
    public static string Path { get; } =
        OperatingSystem.IsLinux() ? "/sys"
        : !OperatingSystem.IsWindows() ? ReadOnlyTempFolder()
        : throw new PlatformNotSupportedException("no folder that refuses new files to every user is known on Windows");

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    static string ReadOnlyTempFolder()
    {
        var folder = Directory.CreateTempSubdirectory("improved-ddpm-readonly-").FullName;
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        return folder;
    }
}
