using ImprovedDdpm.Build;

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

/// <summary>A fact about Linux only (TorchSharp's Linux native library and its loader).</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Linux only";
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

/// <summary>A fact about the GLIBCXX fix: skipped off Linux and where the system libstdc++ already has the version.</summary>
public sealed class GlibcxxFixFactAttribute : FactAttribute
{
    public GlibcxxFixFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Linux only";
        else if (SystemLibStdCxx.Provides(ElfVersionPatcher.RequiredVersion))
            Skip = $"the system libstdc++ provides {ElfVersionPatcher.RequiredVersion}: nothing to fix";
    }
}

/// <summary>A fact that launches processes with Open MPI's mpiexec: skipped where it is not installed.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiRun.Mpiexec is null) Skip = MpiRun.Missing;
    }
}

/// <summary>A theory that launches processes with Open MPI's mpiexec: skipped where it is not installed.</summary>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute()
    {
        if (MpiRun.Mpiexec is null) Skip = MpiRun.Missing;
    }
}
