using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary>
/// Every command as a typed call, with no command-line strings: a declared model is trained, interrupted, resumed,
/// sampled, measured in bits/dim and evaluated through the library alone.
/// </summary>
[Collection(GlobalRandomState.Name)]
public sealed class LibraryApiTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-library-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    static readonly ModelDefinition Model = TinyCond.Definition;

    static TrainingOptions Settings(long maxSteps) => Model.Training with
    {
        BatchSize = 4,
        LogInterval = 1,
        SaveInterval = 2,
        EmaRates = [0.9],
        MaxSteps = maxSteps,
        Seed = 3,
    };

    [Fact]
    public async Task Trains_resumes_samples_and_evaluates_through_the_library()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 16, size: 8);

        // Straight to step 4, asynchronously, with every step reported.
        var straight = Path.Combine(folder, "straight");
        var steps = new StepRecorder();
        using (var run = TrainingRun.Open(Model, new TrainingRunOptions(data) { RunDirectory = straight, Training = Settings(4) }))
        {
            var result = await run.RunAsync(steps);
            Assert.Equal((4, TrainingStopReason.MaxSteps), (result.Step, result.Reason));
        }
        Assert.Equal([0L, 1, 2, 3], steps.Steps.Select(s => s.Step));

        // To step 2, then resumed to step 4: the same weights, bit for bit.
        var resumed = Path.Combine(folder, "resumed");
        using (var run = TrainingRun.Open(Model, new TrainingRunOptions(data) { RunDirectory = resumed, Training = Settings(2) }))
        {
            Assert.Null(run.ResumedFrom);
            run.Run();
        }
        using (var run = TrainingRun.Open(Model, new TrainingRunOptions(data) { RunDirectory = resumed, Resume = true, Training = Settings(4) }))
        {
            Assert.Equal(2, run.ResumedFrom?.Step);
            Assert.Equal(2, run.Step);
            Assert.Empty(run.SkippedCheckpoints);
            Assert.Equal(4, run.Run().Step);
        }
        AssertSameWeights(Path.Combine(straight, "model000004.pt"), Path.Combine(resumed, "model000004.pt"));

        // A new run refuses a folder that holds one.
        var refusal = Assert.Throws<ArgumentException>(() => TrainingRun.Open(Model, new TrainingRunOptions(data) { RunDirectory = resumed, Training = Settings(6) }));
        Assert.Contains("already holds a checkpoint (step 4)", refusal.Message);

        // Cancellation stops between steps and saves.
        using (var cancellation = new CancellationTokenSource())
        using (var run = TrainingRun.Open(Model, new TrainingRunOptions(data) { RunDirectory = resumed, Resume = true, Training = Settings(10) }))
        {
            var result = run.Run(cancellation.Token, new StepRecorder(_ => cancellation.Cancel()));
            Assert.Equal((5, TrainingStopReason.Cancelled), (result.Step, result.Reason));
            Assert.True(File.Exists(Path.Combine(resumed, TrainingCheckpoint.StateFileName(5))));
        }

        var ema = Path.Combine(resumed, "ema_0.9_000005.pt");
        var samples = ImageSampling.Run(Model, new SampleOptions(ema, NumSamples: 6, BatchSize: 4, Respacing: "5", UseDdim: true, Seed: 1));
        Assert.Equal((6, 8, 8, 3), (samples.Count, samples.Height, samples.Width, samples.Channels));
        Assert.Equal(6, samples.Labels!.Length);
        Assert.All(samples.Labels, label => Assert.InRange(label, 0, Model.NumClasses - 1));
        var (npz, _) = samples.Save(Path.Combine(folder, "samples"));
        Assert.Equal(samples.Pixels, SampleSet.Load(npz).Pixels);

        var nll = NllEvaluation.Run(Model, new NllOptions(data, ema, BatchSize: 4, NumSamples: 8));
        Assert.Equal(8, nll.Count);
        Assert.True(double.IsFinite(nll.MeanBpd) && nll.MeanBpd > 0, $"bits/dim {nll.MeanBpd}");
        Assert.Equal(10, nll.VbPerStep.Length);

        // A randomly initialised Inception network: the real weights cannot be downloaded here.
        var weights = Path.Combine(folder, "inception.pt");
        manual_seed(5);
        using (var inception = new FidInceptionV3()) Checkpoint.SaveStateDict(inception, weights);
        var evaluation = SampleEvaluation.Run(new SampleEvaluationOptions(npz, data, weights, BatchSize: 8));
        Assert.Equal((6, 16), (evaluation.Samples, evaluation.ReferenceImages));
        Assert.True(double.IsFinite(evaluation.Fid) && evaluation.Fid > 0, $"FID {evaluation.Fid}");
        Assert.NotNull(evaluation.PrecisionRecall);
    }

    [Fact]
    public void Gradient_checkpointing_can_be_turned_on_for_a_run_and_changes_no_loss()
    {
        var data = TrainingImages.Write(Path.Combine(folder, "data"), 8, size: 8);
        double FirstLoss(bool? checkpointing)
        {
            var steps = new StepRecorder();
            using var run = TrainingRun.Open(Model, new TrainingRunOptions(data)
            {
                RunDirectory = Path.Combine(folder, $"run-{checkpointing}"),
                UseCheckpoint = checkpointing,
                Training = Settings(1),
            });
            Assert.All(run.Network.modules().OfType<ResBlock>(), block => Assert.Equal(checkpointing ?? false, block.UseCheckpoint));
            run.Run(progress: steps);
            return Assert.Single(steps.Steps).Loss;
        }
        Assert.Equal(FirstLoss(null), FirstLoss(true));
    }

    [Fact]
    public void Settings_are_checked_before_anything_is_opened()
    {
        var error = Assert.Throws<TrainingOptionException>(() =>
            TrainingRun.Open(Model, new TrainingRunOptions(Path.Combine(folder, "no-data")) { Training = Model.Training with { EmaRates = [0.9, 0.9] } }));
        // The missing data folder was never looked at: the settings come first.
        Assert.Equal(nameof(TrainingOptions.EmaRates), error.Option);
    }

    static void AssertSameWeights(string expected, string actual)
    {
        using var a = Model.LoadNetwork(expected);
        using var b = Model.LoadNetwork(actual);
        var left = a.state_dict();
        var right = b.state_dict();
        Assert.Equal(left.Keys, right.Keys);
        foreach (var key in left.Keys) Assert.True(left[key].eq(right[key]).all().item<bool>(), $"{key} differs");
    }

    /// <summary>Records steps as they are reported, on the training thread (Progress&lt;T&gt; would post them later).</summary>
    sealed class StepRecorder(Action<TrainingStep>? then = null) : IProgress<TrainingStep>
    {
        public List<TrainingStep> Steps { get; } = [];

        public void Report(TrainingStep value)
        {
            Steps.Add(value);
            then?.Invoke(value);
        }
    }
}
