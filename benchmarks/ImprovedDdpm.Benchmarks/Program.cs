// Speed of training and sampling on this machine, with the examples' models:
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks              (everything, ~15 min on 2 cores)
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- --filter '*Training*'
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- --filter '*PrecisionRecall*'
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- --filter '*Inception*'
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- sampler-accuracy --model-path quickstart/run/ema_0.995_001200.pt
//     (not a timing: each sampler's RMSE to the exact ODE endpoint at 5/10/20/50 network evaluations, SamplerAccuracyCommand.cs)
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- memory [8 32]   (peak RSS, gradient checkpointing off/on)
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- compare --ref REF --batch 8 32
//     (ours and the reference side by side with ratios: ReferenceComparison.cs; REF = extracted openai/improved-diffusion;
//      then this machine's fp32 limits measured in the same sitting and each run's share of them: ComputeLimits.cs)
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- profile [--batch 8]   (where a step's time goes)
//   dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- ab SWITCH   (old vs new code path, interleaved)
// Besides BenchmarkDotNet's table it prints the medians as samples/s (training), seconds per image (sampling) and
// the time precision/recall and Inception features would take at 50k (extrapolations, not measurements).
using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using ImprovedDdpm;
using ImprovedDdpm.Benchmarks;

LibTorchLog.Configure();
AbComparison.ApplyEnvironment();
if (args.Length > 0 && args[0] == SamplerAccuracyCommand.Name) return SamplerAccuracyCommand.Run(args[1..]);
if (args.Length > 0 && args[0] == "memory") return CheckpointingMemory.Run(args[1..]);
if (args.Length > 0 && args[0] == "profile") return StepProfile.Run(args[1..]);
if (args.Length > 0 && args[0] == "ab") return AbComparison.Run(args[1..]);
if (args.Length > 0 && args[0] == "compare") return ReferenceComparison.Run(args[1..]);

// Each operation takes from milliseconds to seconds: a few measured runs of one invocation each, in this process
// (the TorchSharp native-library fix is applied to this project's output, not to a generated benchmark project).
var config = DefaultConfig.Instance
    .AddJob(Job.Default.WithToolchain(new InProcessEmitToolchain(TimeSpan.FromHours(1), logOutput: true)).WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1))
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
var summaries = BenchmarkSwitcher.FromAssembly(typeof(TrainingBenchmarks).Assembly).Run(args, config);

var reports = summaries.SelectMany(s => s.Reports).Where(r => r.ResultStatistics is not null).ToList();
foreach (var report in reports.Where(r => r.BenchmarkCase.Descriptor.Type == typeof(PrecisionRecallBenchmarks)))
{
    var parameters = report.BenchmarkCase.Parameters;
    var n = (int)parameters["N"];
    var seconds = report.ResultStatistics!.Median / 1e9;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"precision/recall {parameters["Arithmetic"],-16} N = {n}: median {seconds:F2} s; 50k extrapolated ×{(50000.0 / n) * (50000.0 / n):F0}: {seconds * (50000.0 / n) * (50000.0 / n) / 60:F1} min"));
}

foreach (var report in reports.Where(r => r.BenchmarkCase.Descriptor.Type == typeof(InceptionBenchmarks)))
{
    var batch = (int)report.BenchmarkCase.Parameters["BatchSize"];
    var perImage = report.ResultStatistics!.Median / 1e9 / batch;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"Inception features batch {batch,3}: {perImage:F3} s per image; 50k images extrapolated: {perImage * 50000 / 3600:F1} h"));
}

Type[] evaluationBenchmarks = [typeof(PrecisionRecallBenchmarks), typeof(InceptionBenchmarks)];
var modelReports = reports.Where(r => !evaluationBenchmarks.Contains(r.BenchmarkCase.Descriptor.Type)).ToList();
if (modelReports.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine("model       batch  median         derived");
}
foreach (var report in modelReports)
{
    var parameters = report.BenchmarkCase.Parameters;
    var batch = (int)parameters["BatchSize"];
    var seconds = report.ResultStatistics!.Median / 1e9;
    var derived = report.BenchmarkCase.Descriptor.Type == typeof(TrainingBenchmarks)
        ? $"{batch / seconds:F2} training samples/s"
        : $"{seconds / batch:F2} s per image (DDIM 50)";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{parameters["Model"],-11} {batch,5}  {seconds,8:F3} s     {derived}"));
}
return 0;
