using System.Reflection;

namespace ImprovedDdpm.Tests.Support;

/// <summary>The packages restore put in the global package folder, as shipped (the tests only read them).</summary>
static class RestoredPackages
{
    /// <summary>The global package folder the tests were restored from (recorded at build time).</summary>
    public static string GlobalFolder =>
        typeof(RestoredPackages).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "NuGetPackageRoot").Value!;

    /// <summary>TorchSharp's package version, from the assembly in use ("0.107.0+commit" → "0.107.0").</summary>
    public static string TorchSharpVersion =>
        typeof(TorchSharp.torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    /// <summary>
    /// The package's libLibTorchSharp.so for Linux x64, as shipped (it still strictly requires GLIBCXX_3.4.32). Every
    /// restore has it, whatever the OS: TorchSharp's package carries the native libraries of every platform.
    /// </summary>
    public static string TorchSharpLinuxNativeLibrary =>
        Path.Combine(GlobalFolder, "torchsharp", TorchSharpVersion, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
}
