namespace ImprovedDdpm.Tests.Support;

// xunit 2 has no dynamic skip; a FactAttribute that sets Skip in its constructor is reported as skipped (with the
// reason) where its condition does not hold, instead of passing without having checked anything.

/// <summary>A fact that needs POSIX signals: skipped on Windows.</summary>
public sealed class UnixFactAttribute : FactAttribute
{
    public UnixFactAttribute()
    {
        if (OperatingSystem.IsWindows()) Skip = "needs POSIX signals; Windows has none (Ctrl+C takes the same path)";
    }
}

/// <summary>A fact that runs a program found at a fixed path: skipped where it is not installed.</summary>
public sealed class FactNeedingFileAttribute : FactAttribute
{
    public FactNeedingFileAttribute(string path)
    {
        if (!File.Exists(path)) Skip = $"{path} is not installed";
    }
}
