// Why this exists: TorchSharp 0.107's libLibTorchSharp.so was linked against GCC 13's libstdc++ and so
// requires the symbol version GLIBCXX_3.4.32. Debian 12 and Ubuntu 22.04 ship GCC 12's libstdc++
// (up to GLIBCXX_3.4.30), so the dynamic loader refuses the library and every TorchSharp call fails.
// The only symbol carrying that version is std::ios_base_library_init(), an undefined marker with no
// relocation against it, so nothing ever binds to it. Marking that single version requirement WEAK
// (vna_flags |= VER_FLG_WEAK in .gnu.version_r) lets the loader accept the library; everything else
// resolves normally. The patch is applied to copies only, never to the NuGet cache, and is skipped when
// the system libstdc++ already provides the version.
//
// One implementation, two places it runs:
// - at build time, on the copy in a build or publish output: compiled by MSBuild's RoslynCodeTaskFactory
//   (see TorchSharpNativeFix.targets; also shipped in the package's buildTransitive folder);
// - at run time, for hosts that run no build step of ours: linked into ImprovedDdpm.Runtime with
//   ELF_PATCHER_ONLY (no MSBuild types there), where src/Runtime/Platform/TorchSharpNative.cs patches a copy in a
//   per-user cache folder at first use. The tests exercise it through the runtime.
using System;
using System.IO;
using System.Text;
#if !ELF_PATCHER_ONLY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
#endif

namespace ImprovedDdpm.Build;

#if !ELF_PATCHER_ONLY

/// <summary>MSBuild task: weakens the GLIBCXX_3.4.32 requirement of the given ELF files in place.</summary>
public sealed class WeakenGlibcxxRequirement : Task
{
    /// <summary>The libLibTorchSharp.so copies in the output folder.</summary>
    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        if (SystemLibStdCxx.Provides(ElfVersionPatcher.RequiredVersion))
        {
            Log.LogMessage(MessageImportance.Low, "System libstdc++ provides {0}; TorchSharp native library left as is.", ElfVersionPatcher.RequiredVersion);
            return true;
        }
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            try
            {
                var result = ElfVersionPatcher.WeakenRequirement(path, ElfVersionPatcher.RequiredVersion);
                Log.LogMessage(MessageImportance.Normal, "{0}: {1} requirement {2}.", path, ElfVersionPatcher.RequiredVersion, result);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Log.LogError("Could not patch {0} for the system libstdc++: {1}", path, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>Finds whether the system's libstdc++ defines a symbol version.</summary>
internal static class SystemLibStdCxx
{
    static readonly string[] Candidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib64/libstdc++.so.6",
    };

    /// <summary>True when the first libstdc++ found contains the version name (its version definitions are plain strings).</summary>
    public static bool Provides(string version)
    {
        foreach (var candidate in Candidates)
        {
            if (File.Exists(candidate))
                return IndexOf(File.ReadAllBytes(candidate), Encoding.ASCII.GetBytes(version + "\0")) >= 0;
        }
        return false;
    }

    static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i <= haystack.Length - needle.Length; i++)
        {
            var j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }
}

/// <summary>What <see cref="ElfVersionPatcher.WeakenRequirement"/> did.</summary>
internal enum PatchResult { Weakened, AlreadyWeak, NotRequired }

/// <summary>Edits the flags of one version requirement (Elf64_Vernaux) of a little-endian ELF64 file.</summary>
internal static class ElfVersionPatcher
{
    public const string RequiredVersion = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    /// <summary>Sets VER_FLG_WEAK on every requirement of <paramref name="version"/>, keeping the file's timestamp.</summary>
    public static PatchResult WeakenRequirement(string path, string version)
    {
        var bytes = File.ReadAllBytes(path);
        var flagOffsets = FindRequirementFlags(bytes, version, path);
        if (flagOffsets.Length == 0) return PatchResult.NotRequired;
        var changed = false;
        foreach (var offset in flagOffsets)
        {
            var flags = BitConverter.ToUInt16(bytes, offset);
            if ((flags & VerFlgWeak) != 0) continue;
            WriteUInt16(bytes, offset, (ushort)(flags | VerFlgWeak));
            changed = true;
        }
        if (!changed) return PatchResult.AlreadyWeak;
        // Keep the timestamp so MSBuild's incremental copy still sees the file as up to date.
        var stamp = File.GetLastWriteTimeUtc(path);
        var temporary = path + ".patching";
        File.WriteAllBytes(temporary, bytes);
        File.Copy(temporary, path, overwrite: true);
        File.Delete(temporary);
        File.SetLastWriteTimeUtc(path, stamp);
        return PatchResult.Weakened;
    }

    /// <summary>True when every requirement of <paramref name="version"/> in the file is weak (or there is none).</summary>
    public static bool IsWeakOrAbsent(string path, string version)
    {
        var bytes = File.ReadAllBytes(path);
        foreach (var offset in FindRequirementFlags(bytes, version, path))
        {
            if ((BitConverter.ToUInt16(bytes, offset) & VerFlgWeak) == 0) return false;
        }
        return true;
    }

    /// <summary>File offsets of vna_flags for each Vernaux entry naming <paramref name="version"/>.</summary>
    static int[] FindRequirementFlags(byte[] elf, string version, string path)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException($"{path} is not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException($"{path} is not a little-endian 64-bit ELF file.");

        var sectionHeaders = checked((int)BitConverter.ToUInt64(elf, 0x28));
        var sectionHeaderSize = BitConverter.ToUInt16(elf, 0x3A);
        var sectionCount = BitConverter.ToUInt16(elf, 0x3C);
        var found = new System.Collections.Generic.List<int>();
        for (var s = 0; s < sectionCount; s++)
        {
            var header = sectionHeaders + s * sectionHeaderSize;
            if (BitConverter.ToUInt32(elf, header + 4) != ShtGnuVerneed) continue;
            var verneed = checked((int)BitConverter.ToUInt64(elf, header + 0x18));
            var strtabHeader = sectionHeaders + (int)BitConverter.ToUInt32(elf, header + 0x28) * sectionHeaderSize;
            var strtab = checked((int)BitConverter.ToUInt64(elf, strtabHeader + 0x18));

            // Elf64_Verneed: vn_version(2) vn_cnt(2) vn_file(4) vn_aux(4) vn_next(4)
            // Elf64_Vernaux: vna_hash(4) vna_flags(2) vna_other(2) vna_name(4) vna_next(4)
            var need = verneed;
            while (true)
            {
                var auxCount = BitConverter.ToUInt16(elf, need + 2);
                var aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (var a = 0; a < auxCount; a++)
                {
                    var name = ReadCString(elf, strtab + (int)BitConverter.ToUInt32(elf, aux + 8));
                    if (name == version) found.Add(aux + 4);
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                var next = BitConverter.ToUInt32(elf, need + 12);
                if (next == 0) break;
                need += (int)next;
            }
        }
        return found.ToArray();
    }

    static string ReadCString(byte[] bytes, int offset)
    {
        var end = offset;
        while (bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, offset, end - offset);
    }

    static void WriteUInt16(byte[] bytes, int offset, ushort value)
    {
        bytes[offset] = (byte)value;
        bytes[offset + 1] = (byte)(value >> 8);
    }
}
