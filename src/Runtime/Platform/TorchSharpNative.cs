using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ImprovedDdpm.Build;

namespace ImprovedDdpm;

/// <summary>
/// The run-time half of the Linux fix for TorchSharp's native library (why the edit is safe:
/// build/WeakenGlibcxxRequirement.cs, whose code this shares). The build step fixes the copy in a build output, but a
/// host that runs no build step of ours (a project referencing src/Runtime from outside this repository, dotnet script,
/// a notebook) gets <c>libLibTorchSharp.so</c> as shipped, which the loader refuses on Debian 12 / Ubuntu 22.04.
/// So before any type of this assembly is used, where the system libstdc++ lacks the version and the library TorchSharp
/// will load still strictly requires it, a weakened copy is made once in a per-user cache folder
/// (<c>$XDG_CACHE_HOME/improved-ddpm/native/&lt;hash of the original&gt;/</c>) and loaded by absolute path, libtorch first
/// so that its dependencies resolve. TorchSharp then loads "LibTorchSharp" as always: its attempt at the original path
/// fails as before, and its attempt by bare name gets the loaded copy, which glibc matches by its soname.
/// </summary>
public static class TorchSharpNative
{
    /// <summary>Set to 1 or true to leave TorchSharp's library alone (as the build property ImprovedDdpmSkipNativeFix).</summary>
    public const string OptOutVariable = "IMPROVED_DDPM_SKIP_NATIVE_FIX";

    const string LibraryFile = "libLibTorchSharp.so";
    static readonly Lock Gate = new();
    static string? status;

    /// <summary>What the check did in this process, in one sentence (for diagnostics).</summary>
    public static string Status
    {
        get
        {
            EnsureLoadable();
            return status!;
        }
    }

#pragma warning disable CA2255 // a library's module initializer, on purpose: it must run before any of its types reaches TorchSharp
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => EnsureLoadable();

    /// <summary>
    /// Makes TorchSharp's native library loadable if it needs the fix; runs once per process (the first use of any
    /// ImprovedDdpm type calls it). Code that calls TorchSharp before touching ImprovedDdpm calls this first. Never
    /// throws: if the copy cannot be made, it says why on stderr and TorchSharp fails as it would have.
    /// </summary>
    public static void EnsureLoadable()
    {
        lock (Gate)
        {
            if (status is not null) return;
            try
            {
                status = Prepare();
            }
            catch (Exception e) // whatever it is: thrown from a module initializer, it would make every type here unusable
            {
                status = $"could not prepare a loadable copy of {LibraryFile}: {e.Message}";
                Console.Error.WriteLine($"ImprovedDdpm: {status}");
            }
        }
    }

    static string Prepare()
    {
        var version = ElfVersionPatcher.RequiredVersion;
        if (!OperatingSystem.IsLinux()) return "not Linux: TorchSharp's library needs no fix";
        if (Environment.GetEnvironmentVariable(OptOutVariable) is "1" or "true") return $"{OptOutVariable} is set: TorchSharp's library left as is";
        if (SystemLibStdCxx.Provides(version)) return $"the system libstdc++ provides {version}: TorchSharp's library needs no fix";
        var directories = NativeDirectories().ToList();
        if (Find(directories, LibraryFile) is not { } original) return $"{LibraryFile} not found: left to TorchSharp";
        if (ElfVersionPatcher.IsWeakOrAbsent(original, version)) return $"{original} loads as it is (the build fixed it)";

        string copy;
        try
        {
            copy = CachedCopy(original, CacheFolder());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            copy = CachedCopy(original, Path.Combine(Path.GetTempPath(), $"improved-ddpm-{Environment.UserName}", "native")); // no usable home
        }
        if (Find(directories, "libtorch.so") is { } libtorch) NativeLibrary.Load(libtorch);
        NativeLibrary.Load(copy);
        return $"loaded {copy}: {original} without its strict {version} requirement";
    }

    /// <summary>
    /// The weakened copy of <paramref name="original"/> under <paramref name="cacheFolder"/>/&lt;hash of the original&gt;/,
    /// made if it is not there yet. The copy is patched under a name of its own and renamed into place, so concurrent
    /// processes each see either no copy or a whole one.
    /// </summary>
    internal static string CachedCopy(string original, string cacheFolder)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(original)))[..32];
        var folder = Directory.CreateDirectory(Path.Combine(cacheFolder, hash)).FullName;
        var copy = Path.Combine(folder, LibraryFile);
        if (IsWeakened(copy)) return copy;
        var temporary = Path.Combine(folder, $".{LibraryFile}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.Copy(original, temporary);
            ElfVersionPatcher.WeakenRequirement(temporary, ElfVersionPatcher.RequiredVersion);
            File.Move(temporary, copy, overwrite: true);
        }
        finally
        {
            File.Delete(temporary); // gone already unless something failed
        }
        return copy;
    }

    /// <summary>True when <paramref name="copy"/> exists and is a whole, weakened ELF file (a damaged one is made anew).</summary>
    static bool IsWeakened(string copy)
    {
        try
        {
            return File.Exists(copy) && ElfVersionPatcher.IsWeakOrAbsent(copy, ElfVersionPatcher.RequiredVersion);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary>$XDG_CACHE_HOME/improved-ddpm/native, or ~/.cache/improved-ddpm/native.</summary>
    static string CacheFolder()
    {
        var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (string.IsNullOrEmpty(cache) || !Path.IsPathRooted(cache))
        {
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (string.IsNullOrEmpty(home)) throw new IOException("no home folder for the cache");
            cache = Path.Combine(home, ".cache");
        }
        return Path.Combine(cache, "improved-ddpm", "native");
    }

    /// <summary>Where TorchSharp's load will look, in its order of preference.</summary>
    static IEnumerable<string> NativeDirectories()
    {
        // The host's native search folders from the application's deps.json: the output's runtimes/<rid>/native, or
        // package folders (dotnet script).
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string list)
        {
            foreach (var directory in list.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)) yield return directory;
        }
        var torchSharp = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location);
        if (string.IsNullOrEmpty(torchSharp)) yield break; // single-file: nothing beside it to find
        var rid = $"linux-{RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant()}";
        yield return torchSharp;
        yield return Path.Combine(torchSharp, "runtimes", rid, "native");
        // TorchSharp.dll loaded from its package (notebooks): packages/torchsharp/<version>/lib/<tfm>/, with the native
        // library in that package and libtorch in its own.
        var package = Path.GetFullPath(Path.Combine(torchSharp, "..", ".."));
        yield return Path.Combine(package, "runtimes", rid, "native");
        var libtorchPackage = Path.GetFullPath(Path.Combine(package, "..", "..", $"libtorch-cpu-{rid}"));
        if (!Directory.Exists(libtorchPackage)) yield break;
        foreach (var version in Directory.GetDirectories(libtorchPackage).OrderByDescending(d => Version.TryParse(Path.GetFileName(d), out var v) ? v : null))
            yield return Path.Combine(version, "runtimes", rid, "native");
    }

    static string? Find(IEnumerable<string> directories, string file) =>
        directories.Select(directory => Path.Combine(directory, file)).FirstOrDefault(File.Exists);
}
