using ImprovedDdpm.Build;
using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Platform;

/// <summary>The native-library fix in build/ makes TorchSharp usable on this machine with nothing installed by hand.</summary>
public sealed class TorchSharpNativeTests
{
    [Fact]
    public void A_real_convolution_runs_and_matches_a_hand_computed_value()
    {
        using var scope = NewDisposeScope();
        var conv = nn.Conv2d(1, 1, 3, padding: 1, bias: false);
        using (no_grad()) conv.weight!.fill_(1.0f);
        var x = ones(1, 1, 4, 4);
        var y = conv.forward(x);
        // A 3×3 box of ones over a 4×4 field of ones: corners see 4, edges 6, the inside 9.
        Assert.Equal(4f, y[0, 0, 0, 0].item<float>());
        Assert.Equal(6f, y[0, 0, 0, 1].item<float>());
        Assert.Equal(9f, y[0, 0, 1, 1].item<float>());
    }

    [LinuxFact]
    public void The_build_output_holds_TorchSharps_native_library()
    {
        Assert.NotEmpty(Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories));
    }

    [GlibcxxFixFact]
    public void The_copied_native_library_no_longer_strictly_requires_the_missing_version()
    {
        var copies = Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        Assert.NotEmpty(copies);
        foreach (var copy in copies)
            Assert.True(ElfVersionPatcher.IsWeakOrAbsent(copy, ElfVersionPatcher.RequiredVersion), $"{copy} still strictly requires {ElfVersionPatcher.RequiredVersion}");
    }

    [Fact]
    public void The_patch_weakens_the_shipped_library_once_and_keeps_the_timestamp()
    {
        // The package's own copy (read only) is an ELF file on every OS and still has the strict requirement.
        var original = RestoredPackages.TorchSharpLinuxNativeLibrary;
        Assert.False(ElfVersionPatcher.IsWeakOrAbsent(original, ElfVersionPatcher.RequiredVersion), $"{original} should be as shipped");
        var copy = Path.Combine(Path.GetTempPath(), $"libLibTorchSharp-{Guid.NewGuid():N}.so");
        File.Copy(original, copy);
        try
        {
            var stamp = new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc);
            File.SetLastWriteTimeUtc(copy, stamp);
            Assert.Equal(PatchResult.Weakened, ElfVersionPatcher.WeakenRequirement(copy, ElfVersionPatcher.RequiredVersion));
            Assert.True(ElfVersionPatcher.IsWeakOrAbsent(copy, ElfVersionPatcher.RequiredVersion));
            Assert.Equal(PatchResult.AlreadyWeak, ElfVersionPatcher.WeakenRequirement(copy, ElfVersionPatcher.RequiredVersion));
            Assert.Equal(stamp, File.GetLastWriteTimeUtc(copy));
            Assert.Equal(new FileInfo(original).Length, new FileInfo(copy).Length);
            Assert.Equal(PatchResult.NotRequired, ElfVersionPatcher.WeakenRequirement(copy, "GLIBCXX_9.9.99"));
            // Only the flags changed: one byte of vna_flags per requirement of the version.
            var before = File.ReadAllBytes(original);
            var after = File.ReadAllBytes(copy);
            Assert.InRange(before.Zip(after).Count(pair => pair.First != pair.Second), 1, 2);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public async Task The_run_time_fix_makes_one_weakened_copy_per_original_however_many_processes_race()
    {
        var original = RestoredPackages.TorchSharpLinuxNativeLibrary;
        var cache = Directory.CreateTempSubdirectory("improved-ddpm-native-cache-").FullName;
        try
        {
            // Eight at once into an empty cache, as processes starting together would.
            var copies = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => TorchSharpNative.CachedCopy(original, cache))));
            var copy = Assert.Single(copies.Distinct());
            Assert.Equal(copy, Assert.Single(Directory.GetFiles(cache, "*", SearchOption.AllDirectories))); // no temporary left
            Assert.True(ElfVersionPatcher.IsWeakOrAbsent(copy, ElfVersionPatcher.RequiredVersion));
            Assert.False(ElfVersionPatcher.IsWeakOrAbsent(original, ElfVersionPatcher.RequiredVersion), "the package's own file was changed");

            // A whole copy is reused as it is; a damaged one is made anew.
            var marker = new DateTime(2021, 2, 3, 4, 5, 6, DateTimeKind.Utc);
            File.SetLastWriteTimeUtc(copy, marker);
            Assert.Equal(copy, TorchSharpNative.CachedCopy(original, cache));
            Assert.Equal(marker, File.GetLastWriteTimeUtc(copy));
            File.WriteAllBytes(copy, [0x7f, (byte)'E', (byte)'L', (byte)'F']);
            Assert.Equal(copy, TorchSharpNative.CachedCopy(original, cache));
            Assert.Equal(new FileInfo(original).Length, new FileInfo(copy).Length);
            Assert.True(ElfVersionPatcher.IsWeakOrAbsent(copy, ElfVersionPatcher.RequiredVersion));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [GlibcxxFixFact]
    public void The_run_time_fix_leaves_a_library_the_build_fixed_alone()
    {
        // The tests' own output was fixed by the build step, so the run-time check must find nothing to do.
        Assert.EndsWith("loads as it is (the build fixed it)", TorchSharpNative.Status, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_ELF_is_refused_by_name()
    {
        var path = Path.Combine(Path.GetTempPath(), $"not-elf-{Guid.NewGuid():N}.so");
        File.WriteAllText(path, "definitely not a shared object, but long enough to have a header of sixty-four bytes.");
        try
        {
            var error = Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.WeakenRequirement(path, ElfVersionPatcher.RequiredVersion));
            Assert.Contains(path, error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
