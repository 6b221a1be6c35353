using ImprovedDdpm.Build;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// A project outside this repository that references src/Runtime by ProjectReference (as the README's "Declaring a
/// model" suggests) builds and runs a convolution. None of this repository's build logic reaches that project's
/// output, so on Linux without GLIBCXX_3.4.32 it works only through the run-time fix (Platform/TorchSharpNative.cs),
/// the same one notebooks and dotnet script depend on.
/// </summary>
/// <remarks>
/// Everything it builds goes to its temporary folder (<c>--artifacts-path</c>, passed on to the referenced projects),
/// deleted afterwards: the repository's own bin/obj, which the running test host and a concurrent build use, are not
/// touched. Restore uses the same NuGet configuration as the repository's (the user's, and no nuget.config of its own).
/// </remarks>
[Collection(OutsideBuilds.Name)]
public sealed class ProjectReferenceConsumerTests(ITestOutputHelper output) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("improved-ddpm-consumer-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void A_project_outside_the_repository_referencing_the_runtime_runs_a_convolution()
    {
        DotnetCli.IsolateFromParentFolders(root);
        var app = Directory.CreateDirectory(Path.Combine(root, "app")).FullName;
        var runtime = Path.Combine(DotnetCli.RepositoryRoot(), "src", "Runtime", "ImprovedDdpm.Runtime.csproj");
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{runtime}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using ImprovedDdpm;
            using static TorchSharp.torch;

            // The U-Net's last layer from ImprovedDdpm.Runtime, a 3×3 convolution, with its weights set to ones.
            using var conv = new OutputConvolution(1, 1);
            using (no_grad())
            {
                conv.weight.fill_(1.0f);
                conv.bias.zero_();
            }
            using var y = conv.forward(ones(1, 1, 4, 4));
            // A 3×3 box of ones over a 4×4 field of ones: corners see 4, edges 6, the inside 9.
            Console.WriteLine($"convolution: {y[0, 0, 0, 0].item<float>()} {y[0, 0, 0, 1].item<float>()} {y[0, 0, 1, 1].item<float>()}");
            Console.WriteLine($"native library: {TorchSharpNative.Status}");
            """);

        var artifacts = Path.Combine(root, "artifacts");
        var cache = Path.Combine(root, "cache");
        var environment = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cache };
        DotnetCli.Run(output, app, environment, "build", "--artifacts-path", artifacts);
        var run = DotnetCli.Run(output, app, environment, "run", "--no-build", "--artifacts-path", artifacts);
        Assert.Contains("convolution: 4 6 9", run, StringComparison.Ordinal);
        // The library alone: none of the command-line tool's dependencies came along.
        foreach (var toolAssembly in new[] { "System.CommandLine.dll", "Spectre.Console.dll", "ScottPlot.dll", "ImprovedDdpm.CommandLine.dll" })
            Assert.Empty(Directory.GetFiles(artifacts, toolAssembly, SearchOption.AllDirectories));

        if (!OperatingSystem.IsLinux() || SystemLibStdCxx.Provides(ElfVersionPatcher.RequiredVersion)) return; // nothing to fix here
        // The build output kept TorchSharp's library as shipped, so only the run-time fix can have made it load: from
        // its copy in the cache folder.
        var shipped = Directory.GetFiles(artifacts, "libLibTorchSharp.so", SearchOption.AllDirectories);
        Assert.NotEmpty(shipped);
        Assert.All(shipped, file => Assert.False(ElfVersionPatcher.IsWeakOrAbsent(file, ElfVersionPatcher.RequiredVersion), $"{file} was patched at build time"));
        var copy = Assert.Single(Directory.GetFiles(cache, "*", SearchOption.AllDirectories));
        Assert.True(ElfVersionPatcher.IsWeakOrAbsent(copy, ElfVersionPatcher.RequiredVersion));
        Assert.Contains($"native library: loaded {copy}", run, StringComparison.Ordinal);
    }
}
