using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Training;

/// <summary>Tiny networks, diffusions and synthetic data for training tests, plus an observer that records.</summary>
static class TrainingFixtures
{
    /// <summary>A short cosine process: ε prediction, fixed or learned (range) variance.</summary>
    public static GaussianDiffusion ShortDiffusion(int steps = 20, bool learnSigma = false) => learnSigma
        ? new GaussianDiffusion(BetaSchedules.Cosine(steps), ModelMeanType.Epsilon, ModelVarType.LearnedRange, LossType.RescaledMse)
        : new GaussianDiffusion(BetaSchedules.Cosine(steps), ModelMeanType.Epsilon, ModelVarType.FixedLarge, LossType.Mse);

    /// <summary>
    /// The network the loop tests train: <see cref="ToyNetwork"/>, not the tiny U-Net. On this project's machine the
    /// CPU convolution backward (oneDNN) intermittently returns NaN (a few percent of tiny-U-Net steps, at random
    /// steps, identical runs otherwise); the loop's own behaviour is what these tests pin down, exactly and
    /// repeatably, so they train a network without convolutions.
    /// </summary>
    public static ToyNetwork ToyNet(bool learnSigma = false) => new(learnSigma);

    /// <summary>A copy of <paramref name="source"/>'s architecture and weights.</summary>
    public static ToyNetwork CopyOf(ToyNetwork source, bool learnSigma = false)
    {
        var copy = ToyNet(learnSigma);
        CopyWeights(source, copy);
        return copy;
    }

    public static void CopyWeights(nn.Module source, nn.Module target)
    {
        using var gradients = no_grad();
        var from = source.state_dict();
        foreach (var (key, value) in target.state_dict()) value.copy_(from[key]);
    }

    /// <summary><paramref name="count"/> smooth 3×8×8 images in [−1, 1]: random 2×2 colour fields, upsampled.</summary>
    public static Tensor Dataset(int count, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        var coarse = randn([count, 3, 2, 2], generator: generator);
        var images = nn.functional.interpolate(coarse, size: [8, 8], mode: InterpolationMode.Bilinear, align_corners: true).tanh();
        return images.MoveToOuterDisposeScope();
    }

    /// <summary>Batches cycling through <paramref name="dataset"/> in a fixed order, skipping those already consumed.</summary>
    public static Func<long, IEnumerator<TrainingBatch>> Batches(Tensor dataset, int batchSize) =>
        consumed => Enumerate(dataset, batchSize, consumed);

    static IEnumerator<TrainingBatch> Enumerate(Tensor dataset, int batchSize, long consumed)
    {
        var count = dataset.shape[0];
        for (var batch = consumed; ; batch++)
        {
            var indices = Enumerable.Range(0, batchSize).Select(i => (batch * batchSize + i) % count).ToArray();
            using var index = tensor(indices);
            yield return new TrainingBatch(dataset.index_select(0, index), null);
        }
    }

    /// <summary>All parameters of a module as one float64 vector.</summary>
    public static double[] Flatten(IEnumerable<Tensor> tensors)
    {
        using var scope = NewDisposeScope();
        return cat(tensors.Select(t => t.detach().flatten().to(ScalarType.Float64)).ToList(), 0).data<double>().ToArray();
    }

    public static double MaxAbsDifference(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
    }
}

/// <summary>
/// A network small enough to train in milliseconds and without convolutions: the flattened 3×8×8 image and a
/// sinusoidal embedding of the timestep through two linear layers (ε, or ε and v with a learned variance). Its
/// output layer starts at zero, as the U-Net's does.
/// </summary>
sealed class ToyNetwork : nn.Module, IDiffusionNetwork
{
    const long Pixels = 3 * 8 * 8, Embedding = 16, Hidden = 256;

    readonly TorchSharp.Modules.Sequential layers;
    readonly long outChannels;

    public ToyNetwork(bool learnSigma = false) : base(nameof(ToyNetwork))
    {
        outChannels = learnSigma ? 6 : 3;
        layers = nn.Sequential(nn.Linear(Pixels + Embedding, Hidden), new SiLU(), ModuleInit.Zeroed(nn.Linear(Hidden, outChannels * 64)));
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor timesteps, Tensor? y = null)
    {
        using var scope = NewDisposeScope();
        var input = cat([x.flatten(1), TimestepEmbedding.Sinusoidal(timesteps, Embedding)], 1);
        return layers.call(input).view(x.shape[0], outChannels, 8, 8).MoveToOuterDisposeScope();
    }
}

/// <summary>Records what a run reports; optionally acts on each step.</summary>
sealed class RecordingObserver(Action<TrainingStep>? onStep = null) : ITrainingObserver
{
    public List<TrainingStarted> Starts { get; } = [];
    public List<TrainingStep> Steps { get; } = [];
    public List<TrainingLogRow> Rows { get; } = [];
    public List<TrainingCheckpoint> Checkpoints { get; } = [];

    public void OnStarted(TrainingStarted started) => Starts.Add(started);

    public void OnStep(TrainingStep step)
    {
        Steps.Add(step);
        onStep?.Invoke(step);
    }

    public void OnLog(TrainingLogRow row) => Rows.Add(row);

    public void OnCheckpointSaved(TrainingCheckpoint checkpoint) => Checkpoints.Add(checkpoint);
}
