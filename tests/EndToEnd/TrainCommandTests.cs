using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using SixLabors.ImageSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// <c>train</c> of the generated command-line tool on the tiny models: it learns, it resumes exactly, its checkpoints
/// feed <c>sample</c> and <c>nll</c>, and bad input is refused by name without touching what was saved.
/// </summary>
[Collection(GlobalRandomState.Name)]
public sealed class TrainCommandTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-train-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    string Data(int count = 64, int classes = 3) => TrainingImages.Write(Path.Combine(folder, $"data{count}x{classes}"), count, size: 8, classes);

    string RunFolder(string name) => Path.Combine(folder, name);

    static (int Code, string Output) Train(ModelDefinition model, params string[] args) => ToolRunner.Run(model, ["train", .. args]);

    [Fact]
    public void Training_lowers_the_loss_and_its_checkpoints_sample_and_evaluate()
    {
        var data = Data();
        var run = RunFolder("learn");
        var (code, text) = Train(TinyFixed.Definition, "--data-dir", data, "--run-dir", run, "--max-steps", "60", "--batch-size", "8",
            "--lr", "2e-3", "--log-interval", "10", "--save-interval", "30");
        Assert.True(code == 0, text);
        Assert.Contains("Reached --max-steps after step 60", text);

        var progress = ProgressCsv.Read(Path.Combine(run, TrainLoop.ProgressFileName));
        var (steps, losses) = progress.Series("loss");
        Assert.Equal([9.0, 19, 29, 39, 49, 59], steps);
        Assert.True(losses[^1] < 0.6 * losses[0], $"the loss should fall by at least 40% over 60 steps: {string.Join(", ", losses)}");
        foreach (var name in new[] { "model000030.pt", "model000060.pt", "ema_0.9999_000060.pt", "opt000060.pt", "state000060.json" })
            Assert.True(File.Exists(Path.Combine(run, name)), name);
        using (var curve = Image.Load(Path.Combine(run, LossCurveWriter.FileName))) Assert.True(curve.Width > 100);

        var samples = Path.Combine(folder, "samples");
        (code, text) = ToolRunner.Run(TinyFixed.Definition, "sample", "--model-path", Path.Combine(run, "ema_0.9999_000060.pt"),
            "--num-samples", "4", "--batch-size", "4", "--output", samples);
        Assert.True(code == 0, text);
        Assert.True(File.Exists(samples + ".npz") && File.Exists(samples + ".png"));

        (code, text) = ToolRunner.Run(TinyFixed.Definition, "nll", "--data-dir", data, "--model-path", Path.Combine(run, "model000060.pt"),
            "--batch-size", "8", "--num-samples", "8", "--terms-csv", Path.Combine(folder, "terms.csv"));
        Assert.True(code == 0, text);
        var bitsPerDim = double.Parse(text.Trim().Split('\n')[^1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(double.IsFinite(bitsPerDim) && bitsPerDim > 0, text);
    }

    [Fact]
    public void Stopping_and_resuming_gives_the_uninterrupted_run()
    {
        var data = Data();
        string[] common = ["--data-dir", data, "--batch-size", "4", "--save-interval", "3", "--log-interval", "2", "--schedule-sampler", "LossSecondMoment", "--ema-rate", "0.9,0.99"];
        var whole = RunFolder("whole");
        var (code, text) = Train(TinySigma.Definition, [.. common, "--run-dir", whole, "--max-steps", "7"]);
        Assert.True(code == 0, text);

        var again = RunFolder("again");
        (code, text) = Train(TinySigma.Definition, [.. common, "--run-dir", again, "--max-steps", "7"]);
        AssertSameTensors(TinySigma.Definition, Path.Combine(whole, "model000007.pt"), Path.Combine(again, "model000007.pt"));
        var parts = RunFolder("parts");
        (code, text) = Train(TinySigma.Definition, [.. common, "--run-dir", parts, "--max-steps", "3"]);
        Assert.True(code == 0, text);
        (code, text) = Train(TinySigma.Definition, [.. common, "--run-dir", parts, "--max-steps", "7", "--resume"]);
        Assert.True(code == 0, text);
        Assert.Contains("resumed from step 3", text);

        foreach (var file in new[] { "model000007.pt", "ema_0.9_000007.pt", "ema_0.99_000007.pt", "opt000007.pt" })
            AssertSameTensors(TinySigma.Definition, Path.Combine(whole, file), Path.Combine(parts, file));
        Assert.Equal(File.ReadAllText(Path.Combine(whole, TrainLoop.ProgressFileName)), File.ReadAllText(Path.Combine(parts, TrainLoop.ProgressFileName)),
            new ProgressRowsIgnoringThroughput());
    }

    [Fact]
    public void A_reference_checkpoint_starts_a_run_at_its_step()
    {
        var start = Path.Combine(folder, "reference", "model000100.pt");
        Directory.CreateDirectory(Path.GetDirectoryName(start)!);
        File.Copy(ReferenceFixtures.PathOf("tiny_unet_sigma.pt"), start);
        var run = RunFolder("from-reference");
        var (code, text) = Train(TinySigma.Definition, "--data-dir", Data(), "--run-dir", run, "--resume-checkpoint", start,
            "--max-steps", "102", "--batch-size", "4");
        Assert.True(code == 0, text);
        Assert.Equal(102, TrainingCheckpoint.FindLatest(run)!.Step);
    }

    [Fact]
    public void A_diverging_run_names_the_step_and_keeps_the_last_checkpoint_loadable()
    {
        var run = RunFolder("diverge");
        var (code, text) = Train(TinyFixed.Definition, "--data-dir", Data(), "--run-dir", run, "--max-steps", "20", "--batch-size", "4",
            "--lr", "1e30", "--save-interval", "1");
        Assert.Equal(1, code);
        Assert.Contains("Training diverged at step", text);
        var last = TrainingCheckpoint.FindLatest(run)!;
        Assert.Contains($"the last good checkpoint is step {last.Step}", text);
        using var network = TinyFixed.Definition.LoadNetwork(last.ModelPath, CPU);
    }

    [Fact]
    public void Bad_input_is_refused_by_name_and_saved_checkpoints_stay_untouched()
    {
        var data = Data(16);
        var run = RunFolder("kept");
        var (code, text) = Train(TinyFixed.Definition, "--data-dir", data, "--run-dir", run, "--max-steps", "2", "--batch-size", "4");
        Assert.True(code == 0, text);
        var saved = Directory.GetFiles(run).ToDictionary(f => f, File.ReadAllBytes);

        var empty = Directory.CreateDirectory(Path.Combine(folder, "empty")).FullName;
        var corrupt = Directory.CreateDirectory(Path.Combine(folder, "corrupt")).FullName;
        foreach (var good in new[] { "c0_0000.png", "c1_0001.png", "c2_0002.png" }) File.Copy(Path.Combine(data, good), Path.Combine(corrupt, good));
        File.WriteAllText(Path.Combine(corrupt, "c0_0003.png"), "not a png");
        var foreign = Path.Combine(folder, "foreign", "model000005.pt");
        Directory.CreateDirectory(Path.GetDirectoryName(foreign)!);
        File.Copy(ReferenceFixtures.PathOf("tiny_unet_sigma.pt"), foreign);

        var fresh = RunFolder("fresh");
        (string[] Args, string Expected)[] cases =
        [
            (["--run-dir", fresh, "--data-dir", Path.Combine(folder, "missing")], Path.Combine(folder, "missing")),
            (["--run-dir", fresh, "--data-dir", empty], empty),
            (["--run-dir", fresh, "--data-dir", corrupt], "c0_0003.png"),
            (["--run-dir", run, "--data-dir", data], "already holds a checkpoint (step 2)"),
            (["--run-dir", run, "--data-dir", data, "--resume", "--ema-rate", "0.9999,2"], "--ema-rate"),
            (["--run-dir", run, "--data-dir", data, "--resume", "--lr", "-1"], "--lr -1: must be a finite positive learning rate"),
            (["--run-dir", fresh, "--data-dir", data, "--resume-checkpoint", foreign], "out.2.weight"),
        ];
        foreach (var (args, expected) in cases)
        {
            (code, text) = Train(TinyFixed.Definition, ["--max-steps", "4", "--batch-size", "4", .. args]);
            Assert.True(code == 1, $"{string.Join(' ', args)}: {text}");
            Assert.Contains(expected, text);
        }
        foreach (var (file, bytes) in saved) Assert.Equal(bytes, File.ReadAllBytes(file));
    }

    /// <summary>Weights (model or EMA file) or Adam moments (opt file) of two checkpoints, bit for bit.</summary>
    static void AssertSameTensors(ModelDefinition model, string expectedPath, string actualPath)
    {
        var name = Path.GetFileName(actualPath);
        var read = name.StartsWith("opt", StringComparison.Ordinal) ? (Func<string, double[]>)(path => Moments(model, path)) : path => Weights(model, path);
        var (expected, actual) = (read(expectedPath), read(actualPath));
        var worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst == 0, $"{name} differs by up to {worst}");
    }

    static double[] Weights(ModelDefinition model, string path)
    {
        using var network = model.LoadNetwork(path, CPU);
        return Runtime.Training.TrainingFixtures.Flatten(network.parameters());
    }

    static double[] Moments(ModelDefinition model, string path)
    {
        using var network = model.CreateNetwork();
        using var optimizer = new AdamWOptimizer(network.parameters(), lr: 1e-4);
        OptimizerCheckpoint.Load(optimizer, path);
        return Runtime.Training.TrainingFixtures.Flatten(optimizer.States.SelectMany(s => new[] { s.ExpAvg, s.ExpAvgSq }));
    }

    /// <summary>progress.csv rows compared without the samples/s column, which is wall-clock throughput.</summary>
    sealed class ProgressRowsIgnoringThroughput : IEqualityComparer<string>
    {
        public bool Equals(string? x, string? y) => Strip(x) == Strip(y);

        public int GetHashCode(string obj) => Strip(obj).GetHashCode(StringComparison.Ordinal);

        static string Strip(string? csv) => string.Join("\n", (csv ?? "").Split('\n').Select(line => line.Split(',') is { Length: > 2 } cells ? string.Join(",", cells.Take(2).Concat(cells.Skip(3))) : line));
    }
}
