using System.Diagnostics;
using Xunit.Abstractions;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// The path a user takes: <c>dotnet pack</c> into a local folder feed, then a fresh project outside this repository with
/// one package reference and one attributed class (no Main) builds, and its generated tool runs, loading TorchSharp's
/// native library through the package's buildTransitive fix.
/// </summary>
public sealed class PackageTests(ITestOutputHelper output) : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("improved-ddpm-package-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void A_fresh_project_with_one_package_reference_builds_and_runs_its_generated_tool()
    {
        // A version of its own, so the global package cache never serves an older build of the same version.
        var version = $"0.1.0-test{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        var feed = Path.Combine(root, "feed");
        var repository = RepositoryRoot();
        foreach (var project in new[] { "src/Attributes", "src/Runtime" })
            Dotnet(repository, "pack", Path.Combine(repository, project), "-o", feed, $"-p:Version={version}");

        var app = Directory.CreateDirectory(Path.Combine(root, "app")).FullName;
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
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

        Dotnet(app, "build");
        var info = Dotnet(app, "run", "--no-build", "--", "info");
        Assert.Contains("FreshModel: Improved DDPM generated from its attributes.", info, StringComparison.Ordinal);
        Assert.Contains("Parameters: 757,030", info, StringComparison.Ordinal);
        Assert.DoesNotContain("compile-time count", info, StringComparison.Ordinal);
    }

    string Dotnet(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        // The test host runs under `dotnet test`, whose MSBuild variables would steer the child build.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        output.WriteLine($"$ dotnet {string.Join(' ', args)}\n{stdout}{stderr.Result}");
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)} exited with {process.ExitCode}:\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string file = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));
}
