using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// The path a user takes: <c>dotnet pack</c> into a local folder feed, then a fresh project outside this repository with
/// one package reference and one attributed class (no Main) builds, and its generated tool runs, loading TorchSharp's
/// native library through the package's buildTransitive fix.
/// </summary>
/// <remarks>
/// Everything it makes stays in its temporary folder, deleted afterwards: the packing builds there (not in the
/// repository's bin/obj, which a concurrent build may be using), and the packed packages are restored into a package
/// folder of their own, with the global one only read, as a fallback, for TorchSharp and the other dependencies.
/// </remarks>
[Collection(OutsideBuilds.Name)]
public sealed class PackageTests(ITestOutputHelper output) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("improved-ddpm-package-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void A_fresh_project_with_one_package_reference_builds_and_runs_its_generated_tool()
    {
        // A version no earlier run used, so no package folder (the global one is read as a fallback) can hold an older
        // build of it.
        var version = $"0.1.0-test{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        var feed = Path.Combine(root, "feed");
        var packages = Path.Combine(root, "packages");
        var repository = DotnetCli.RepositoryRoot();
        foreach (var project in new[] { "src/Attributes", "src/Runtime", "src/CommandLine" })
        {
            DotnetCli.Run(output, repository, null, "pack", Path.Combine(repository, project), "-o", feed, $"-p:Version={version}",
                "--artifacts-path", Path.Combine(root, "artifacts"));
        }

        DotnetCli.IsolateFromParentFolders(root);
        var app = Directory.CreateDirectory(Path.Combine(root, "app")).FullName;
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{packages}" />
              </config>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="global" value="{RestoredPackages.GlobalFolder}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ImprovedDdpm" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Model.cs"), """
            using ImprovedDdpm;

            [Diffusion(Steps = 100, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
            [UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2)]
            public partial class FreshModel;
            """);

        DotnetCli.Run(output, app, null, "build");
        var info = DotnetCli.Run(output, app, null, "run", "--no-build", "--", "info");
        Assert.Contains("FreshModel: Improved DDPM generated from its attributes.", info, StringComparison.Ordinal);
        Assert.Contains("Parameters: 757,030", info, StringComparison.Ordinal);
        Assert.DoesNotContain("compile-time count", info, StringComparison.Ordinal);

        // The packages went to the test's own folder, and the global one did not receive them.
        Assert.True(Directory.Exists(Path.Combine(packages, "improvedddpm", version)), $"ImprovedDdpm {version} is not in {packages}");
        foreach (var id in new[] { "improvedddpm", "improvedddpm.core", "improvedddpm.attributes" })
            Assert.False(Directory.Exists(Path.Combine(RestoredPackages.GlobalFolder, id, version)), $"{id} {version} landed in the global package folder");

        // Embedding without the tool: the core package alone brings the generator and the native-library fix, and
        // none of the tool's dependencies.
        var library = Directory.CreateDirectory(Path.Combine(root, "library")).FullName;
        File.Copy(Path.Combine(app, "nuget.config"), Path.Combine(library, "nuget.config"));
        File.Copy(Path.Combine(app, "Model.cs"), Path.Combine(library, "Model.cs"));
        File.WriteAllText(Path.Combine(library, "Library.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ImprovedDdpm.Core" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(library, "Program.cs"), """
            using var network = FreshModel.CreateNetwork();
            Console.WriteLine($"{FreshModel.Definition.Name}: {network.parameters().Sum(p => p.numel())} parameters");
            """);
        DotnetCli.Run(output, library, null, "build");
        Assert.Contains("FreshModel: 757030 parameters", DotnetCli.Run(output, library, null, "run", "--no-build"), StringComparison.Ordinal);
        var assets = File.ReadAllText(Path.Combine(library, "obj", "project.assets.json"));
        foreach (var toolDependency in new[] { "System.CommandLine", "Spectre.Console", "ScottPlot", "ImprovedDdpm.CommandLine" })
            Assert.DoesNotContain($"\"{toolDependency}", assets, StringComparison.OrdinalIgnoreCase);
    }
}
