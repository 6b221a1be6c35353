using Xunit.Abstractions;
using static TorchSharp.torch;
using static ImprovedDdpm.Tests.Runtime.Training.TrainingFixtures;

namespace ImprovedDdpm.Tests.Runtime.Training;

/// <summary>The training loop on a tiny network: it learns, resumes exactly, anneals, and stops cleanly on divergence.</summary>
public sealed class TrainLoopTests(ITestOutputHelper output) : IDisposable
{
    readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("improved-ddpm-training-");

    public void Dispose() => folder.Delete(recursive: true);

    string Run(string name) => Path.Combine(folder.FullName, name);

    [Fact]
    public void A_hundred_steps_lower_the_loss_on_a_fixed_dataset()
    {
        using var network = ToyNet();
        var data = Dataset(4, seed: 1);
        var recorder = new RecordingObserver();
        var options = new TrainingOptions { Lr = 3e-3, BatchSize = 8, MaxSteps = 100, LogInterval = 10, SaveInterval = 1000, Seed = 3 };
        using var loop = new TrainLoop(network, ShortDiffusion(), options, Run("learns"), Batches(data, 8), [recorder]);

        var result = loop.Run();

        Assert.Equal(TrainingStopReason.MaxSteps, result.Reason);
        Assert.Equal(100, result.Step);
        var losses = recorder.Steps.Select(s => s.Loss).ToArray();
        var first = losses.Take(10).Average();
        var last = losses.TakeLast(10).Average();
        output.WriteLine($"mean loss of the first 10 steps {first:F4}, of the last 10 {last:F4}");
        Assert.True(last < 0.8 * first, $"the loss went from {first} to {last}");
    }

    [Fact]
    public void Stopping_and_resuming_gives_the_uninterrupted_run()
    {
        // T = 4 with 8 examples a step warms the loss-second-moment sampler up after 5 steps, so the resumed part
        // draws from a learned distribution; two microbatches and two averages per step.
        var diffusion = ShortDiffusion(steps: 4, learnSigma: true);
        var data = Dataset(16, seed: 2);
        var options = new TrainingOptions
        {
            Lr = 1e-3, BatchSize = 8, Microbatch = 4, EmaRates = [0.9, 0.5], MaxSteps = 8, SaveInterval = 3, LogInterval = 2,
            Seed = 11, ScheduleSampler = ScheduleSampler.LossSecondMoment,
        };
        using var start = ToyNet(learnSigma: true);

        using var straightNetwork = CopyOf(start, learnSigma: true);
        var straightSteps = new RecordingObserver();
        using var straight = new TrainLoop(straightNetwork, diffusion, options, Run("straight"), Batches(data, 8), [straightSteps]);
        straight.Run();

        using var cancellation = new CancellationTokenSource();
        var firstLeg = new RecordingObserver(step => { if (step.Step == 4) cancellation.Cancel(); });
        using var interruptedNetwork = CopyOf(start, learnSigma: true);
        using (var interrupted = new TrainLoop(interruptedNetwork, diffusion, options, Run("resumed"), Batches(data, 8), [firstLeg]))
        {
            var stopped = interrupted.Run(cancellation.Token);
            Assert.Equal(TrainingStopReason.Cancelled, stopped.Reason);
            Assert.Equal(5, stopped.Step);
            Assert.Equal(5, stopped.Checkpoint.Step);
        }

        using var resumedNetwork = ToyNet(learnSigma: true); // fresh weights: everything must come from the checkpoint
        var secondLeg = new RecordingObserver();
        using var resumed = new TrainLoop(resumedNetwork, diffusion, options, Run("resumed"), Batches(data, 8), [secondLeg]);
        Assert.True(resumed.Resume());
        Assert.Equal(5, resumed.Step);
        Assert.Equal(5, resumed.BatchesConsumed);
        var result = resumed.Run();

        Assert.Equal(TrainingStopReason.MaxSteps, result.Reason);
        Assert.Equal(8, result.Step);
        Assert.Equal(straightSteps.Steps, firstLeg.Steps.Concat(secondLeg.Steps));
        Assert.True(((LossSecondMomentResampler)straight.Sampler).WarmedUp);
        Assert.Equal(straight.Sampler.Weights(), resumed.Sampler.Weights());
        Assert.True(MaxAbsDifference(Flatten(straightNetwork.parameters()), Flatten(resumedNetwork.parameters())) < 1e-6);
        for (var i = 0; i < 2; i++)
        {
            Assert.True(MaxAbsDifference(Flatten(straight.Averages[i].Parameters.Select(p => p.Value)),
                Flatten(resumed.Averages[i].Parameters.Select(p => p.Value))) < 1e-6);
        }
        var straightMoments = straight.Optimizer.States;
        var resumedMoments = resumed.Optimizer.States;
        Assert.Equal(straightMoments.Select(s => s.Step), resumedMoments.Select(s => s.Step));
        Assert.True(MaxAbsDifference(Flatten(straightMoments.Select(s => s.ExpAvgSq)), Flatten(resumedMoments.Select(s => s.ExpAvgSq))) < 1e-9);
        // The log continues too: the same rows, the interval cut by the interruption included.
        Assert.Equal(ProgressRows(Run("straight")).Select(WithoutThroughput), ProgressRows(Run("resumed")).Select(WithoutThroughput));
    }

    [Fact]
    public void Checkpoints_are_named_by_step_as_the_reference_names_them()
    {
        var recorder = new RecordingObserver();
        var options = new TrainingOptions { BatchSize = 2, MaxSteps = 5, SaveInterval = 2, EmaRates = [0.9999, 0.99] };
        using var network = ToyNet();
        using var loop = new TrainLoop(network, ShortDiffusion(), options, Run("names"), Batches(Dataset(4, 5), 2), [recorder]);

        var result = loop.Run();

        Assert.Equal([2L, 4, 5], recorder.Checkpoints.Select(c => c.Step));
        Assert.Equal(result.Checkpoint, recorder.Checkpoints[^1]);
        var files = Directory.GetFiles(Run("names")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        string[] expected =
        [
            "ema_0.9999_000002.pt", "ema_0.9999_000004.pt", "ema_0.9999_000005.pt",
            "ema_0.99_000002.pt", "ema_0.99_000004.pt", "ema_0.99_000005.pt",
            "model000002.pt", "model000004.pt", "model000005.pt",
            "opt000002.pt", "opt000004.pt", "opt000005.pt",
            "progress.csv",
            "state000002.json", "state000004.json", "state000005.json",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), files);

        // The weights load into a fresh network as a PyTorch state dict.
        using var loaded = ToyNet();
        Checkpoint.LoadStateDict(loaded, Path.Combine(Run("names"), "model000005.pt"));
        Assert.Equal(Flatten(network.parameters()), Flatten(loaded.parameters()));

        // The optimizer file has PyTorch's layout and restores the moments.
        using (var stream = File.OpenRead(Path.Combine(Run("names"), "opt000005.pt")))
        {
            var table = TorchSharp.PyBridge.PyTorchUnpickler.UnpickleStateDict(stream);
            Assert.True(table.ContainsKey("state"));
            var group = (System.Collections.Hashtable)((System.Collections.ArrayList)table["param_groups"]!)[0]!;
            Assert.Equal(network.parameters().Count(), ((System.Collections.ArrayList)group["params"]!).Count);
            Assert.Equal(new object[] { 0.9, 0.999 }, (object[])group["betas"]!);
        }
        using var freshNetwork = ToyNet();
        using var freshOptimizer = new AdamWOptimizer(freshNetwork.parameters(), lr: 1e-4);
        OptimizerCheckpoint.Load(freshOptimizer, Path.Combine(Run("names"), "opt000005.pt"));
        var saved = loop.Optimizer.States;
        var restored = freshOptimizer.States;
        Assert.Equal(saved.Select(s => s.Step), restored.Select(s => s.Step));
        Assert.Equal(Flatten(saved.Select(s => s.ExpAvg)), Flatten(restored.Select(s => s.ExpAvg)));

        // Without its state file (as after a crash while saving) a checkpoint is not complete: the previous one is newest.
        Assert.Equal(5, TrainingCheckpoint.FindLatest(Run("names"))!.Step);
        File.Delete(Path.Combine(Run("names"), "state000005.json"));
        Assert.Equal(4, TrainingCheckpoint.FindLatest(Run("names"))!.Step);
        File.Delete(Path.Combine(Run("names"), "opt000004.pt"));
        Assert.Equal(2, TrainingCheckpoint.FindLatest(Run("names"))!.Step);
        File.WriteAllText(Path.Combine(Run("names"), "state000009.json"), "{ not json");
        Assert.Equal(2, TrainingCheckpoint.FindLatest(Run("names"))!.Step);
        Assert.Null(TrainingCheckpoint.FindLatest(Run("nothing here")));
    }

    [Fact]
    public void A_nan_loss_stops_training_naming_the_step_and_keeps_the_last_checkpoint()
    {
        var options = new TrainingOptions { BatchSize = 2, MaxSteps = 10, SaveInterval = 2 };
        using var network = new NaNAtCall(nanCall: 3);
        using var loop = new TrainLoop(network, ShortDiffusion(), options, Run("nan"), Batches(Dataset(4, 6), 2));

        var error = Assert.Throws<TrainingDivergedException>(() => loop.Run());
        output.WriteLine(error.Message);

        Assert.Equal(3, error.Step);
        Assert.Contains("step 3", error.Message);
        Assert.Equal("loss", error.Quantity);
        Assert.True(double.IsNaN(error.Value));
        Assert.Equal(2, error.LastCheckpoint!.Step);
        Assert.False(File.Exists(Path.Combine(Run("nan"), "model000004.pt")));
        Assert.False(File.Exists(Path.Combine(Run("nan"), "model000003.pt")));

        using var healthy = new NaNAtCall(nanCall: -1);
        using var resumed = new TrainLoop(healthy, ShortDiffusion(), options with { MaxSteps = 3 }, Run("nan"), Batches(Dataset(4, 6), 2));
        Assert.True(resumed.Resume());
        Assert.Equal(2, resumed.Step);
        Assert.Equal(3, resumed.Run().Step);
    }

    [Fact]
    public void A_non_finite_gradient_also_stops_training()
    {
        using var network = new NaNAtCall(nanCall: -1, infiniteGradientAtCall: 1);
        using var loop = new TrainLoop(network, ShortDiffusion(), new TrainingOptions { BatchSize = 2, MaxSteps = 3 }, Run("inf"), Batches(Dataset(2, 6), 2));
        var error = Assert.Throws<TrainingDivergedException>(() => loop.Run());
        Assert.Equal(1, error.Step);
        Assert.Equal("gradient norm", error.Quantity);
        Assert.Null(error.LastCheckpoint);
    }

    [Fact]
    public void The_progress_log_averages_each_interval_and_appends_on_resume()
    {
        var recorder = new RecordingObserver();
        var options = new TrainingOptions { BatchSize = 4, MaxSteps = 4, LogInterval = 2, SaveInterval = 3 };
        var progressPath = Path.Combine(Run("csv"), TrainLoop.ProgressFileName);
        var diffusion = ShortDiffusion(learnSigma: true);
        using (var network = ToyNet(learnSigma: true))
        using (var loop = new TrainLoop(network, diffusion, options, Run("csv"), Batches(Dataset(8, 7), 4), [recorder]))
        {
            loop.Run();
        }

        var lines = File.ReadAllLines(Path.Combine(Run("csv"), TrainLoop.ProgressFileName));
        Assert.Equal("step,samples,samples/s,lr,grad_norm,loss,loss_q0,loss_q1,loss_q2,loss_q3,mse,mse_q0,mse_q1,mse_q2,mse_q3,vb,vb_q0,vb_q1,vb_q2,vb_q3", lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.Equal(2, recorder.Rows.Count);
        for (var row = 0; row < 2; row++)
        {
            var fields = lines[1 + row].Split(',');
            var steps = recorder.Steps.Skip(2 * row).Take(2).ToList();
            Assert.Equal((2 * row + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), fields[0]);
            Assert.Equal(((2 * row + 2) * 4).ToString(System.Globalization.CultureInfo.InvariantCulture), fields[1]);
            Assert.True(double.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture) > 0);
            Assert.Equal(steps.Average(s => s.GradNorm), Parse(fields[4]), 1e-9);
            Assert.Equal(steps.Average(s => s.Loss), Parse(fields[5]), 1e-6);
            var terms = recorder.Rows[row].Terms;
            Assert.Equal(terms[LossTerm.Loss].Mean, terms[LossTerm.Mse].Mean + terms[LossTerm.Vb].Mean, 1e-6);
            Assert.Equal(recorder.Rows[row].GradNorm, Parse(fields[4]));
            Assert.Equal(recorder.Rows[row].Loss, Parse(fields[5]));
        }

        // As after a crash in the last save: resuming from step 3 drops the row of steps 2..3 logged after that
        // checkpoint, then appends.
        File.Delete(Path.Combine(Run("csv"), TrainingCheckpoint.StateFileName(4)));
        using (var network = ToyNet(learnSigma: true))
        using (var loop = new TrainLoop(network, diffusion, options with { MaxSteps = 6 }, Run("csv"), Batches(Dataset(8, 7), 4)))
        {
            Assert.True(loop.Resume());
            Assert.Equal(2, File.ReadAllLines(Path.Combine(Run("csv"), TrainLoop.ProgressFileName)).Length);
            loop.Run();
        }
        var after = File.ReadAllLines(Path.Combine(Run("csv"), TrainLoop.ProgressFileName));
        Assert.Equal(lines[0], after[0]);
        Assert.Single(after, line => line.StartsWith("step,", StringComparison.Ordinal));
        Assert.Equal(["1", "3", "5"], after.Skip(1).Select(line => line.Split(',')[0]));
        // The interval cut by the checkpoint (step 2 before, step 3 after) is one row, as without the interruption.
        Assert.Equal(lines[2].Split(',')[5], after[2].Split(',')[5]);
    }

    [Fact]
    public void The_learning_rate_anneals_to_zero_and_training_stops_there()
    {
        var recorder = new RecordingObserver();
        var options = new TrainingOptions { Lr = 1e-3, BatchSize = 2, LrAnnealSteps = 4, SaveInterval = 2 };
        using var network = ToyNet();
        using var loop = new TrainLoop(network, ShortDiffusion(), options with { MaxSteps = 2 }, Run("anneal"), Batches(Dataset(2, 8), 2), [recorder]);
        loop.Run();
        using var resumedNetwork = ToyNet();
        using var resumed = new TrainLoop(resumedNetwork, ShortDiffusion(), options, Run("anneal"), Batches(Dataset(2, 8), 2), [recorder]);
        Assert.True(resumed.Resume());
        var result = resumed.Run();

        Assert.Equal(TrainingStopReason.Annealed, result.Reason);
        Assert.Equal(4, result.Step);
        Assert.Equal([0L, 1, 2, 3], recorder.Steps.Select(s => s.Step));
        double[] expected = [1e-3, 7.5e-4, 5e-4, 2.5e-4];
        for (var i = 0; i < 4; i++) Assert.Equal(expected[i], recorder.Steps[i].Lr, 1e-15);
        Assert.Equal(2.5e-4, resumed.Optimizer.LearningRate, 1e-15);
    }

    [Fact]
    public void Memory_stays_flat_over_steps()
    {
        var live = new List<long>();
        var recorder = new RecordingObserver(_ => live.Add(TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount));
        var options = new TrainingOptions { BatchSize = 2, Microbatch = 1, MaxSteps = 16, LogInterval = 4, SaveInterval = 8, EmaRates = [0.99] };
        using var network = ToyNet(learnSigma: true);
        using var loop = new TrainLoop(network, ShortDiffusion(learnSigma: true), options, Run("memory"), Batches(Dataset(4, 9), 2), [recorder]);
        loop.Run();

        output.WriteLine(string.Join(" ", live));
        // After a warm-up step, every step ends with as many live tensors as the one before: nothing accumulates,
        // across logging and checkpointing steps too.
        Assert.Single(live.Skip(2).Distinct());
    }

    static double Parse(string text) => double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    static string[] ProgressRows(string run) => File.ReadAllLines(Path.Combine(run, TrainLoop.ProgressFileName));

    static string WithoutThroughput(string line)
    {
        var fields = line.Split(',');
        fields[2] = "";
        return string.Join(",", fields);
    }

    /// <summary>The toy network, returning NaN from its forward call number <c>nanCall</c> (0-based; one call per step
    /// here) or an output whose gradient is not finite at call <c>infiniteGradientAtCall</c>.</summary>
    sealed class NaNAtCall : nn.Module, IDiffusionNetwork
    {
        readonly ToyNetwork inner;
        readonly int nanCall;
        readonly int infiniteGradientAtCall;
        int calls;

        public NaNAtCall(int nanCall, int infiniteGradientAtCall = -1) : base(nameof(NaNAtCall))
        {
            inner = ToyNet();
            this.nanCall = nanCall;
            this.infiniteGradientAtCall = infiniteGradientAtCall;
            RegisterComponents();
        }

        public TorchSharp.torch.Tensor forward(TorchSharp.torch.Tensor x, TorchSharp.torch.Tensor timesteps, TorchSharp.torch.Tensor? y = null)
        {
            var output = inner.forward(x, timesteps, y);
            var call = calls++;
            if (call == nanCall) return output * double.NaN;
            // sqrt at 0 has an infinite derivative while the value (and so the loss) stays finite.
            if (call == infiniteGradientAtCall) return output + (output.detach() * 0 + inner.parameters().Last().sum() * 0).sqrt();
            return output;
        }
    }
}
