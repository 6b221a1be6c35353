namespace ImprovedDdpm.Generators.Model;

/// <summary>
/// Everything the emitters need for one attributed class, as values: where it lives, its diffusion process, the network
/// plan computed from <c>[UNet]</c> and the training defaults. No symbols, syntax or locations, so an edit elsewhere
/// leaves it equal and nothing is emitted again.
/// </summary>
internal sealed record ModelSpec(
    string? Namespace,
    string ClassName,
    DiffusionSpec Diffusion,
    UNetSpec UNet,
    NetworkPlan Network,
    TrainingSpec Training,
    EquatableArray<int> DefaultRespacedTimesteps)
{
    /// <summary>The class's full name without <c>global::</c>, used for hint names and module names.</summary>
    public string FullName => Namespace is null ? ClassName : $"{Namespace}.{ClassName}";
}

/// <summary>The values of <c>[Diffusion]</c>, with the reference's defaults for arguments left out.</summary>
internal sealed record DiffusionSpec(
    int Steps = 1000,
    NoiseSchedule Schedule = NoiseSchedule.Linear,
    bool LearnSigma = false,
    bool SigmaSmall = false,
    bool UseKl = false,
    bool PredictXStart = false,
    bool RescaleTimesteps = true,
    bool RescaleLearnedSigmas = true,
    string TimestepRespacing = "")
{
    /// <summary>As the reference's <c>create_gaussian_diffusion</c>: predict x_0 or ε.</summary>
    public ModelMeanType MeanType => PredictXStart ? ModelMeanType.StartX : ModelMeanType.Epsilon;

    /// <summary>As <c>create_gaussian_diffusion</c>: a learned range, else the small or large fixed variance.</summary>
    public ModelVarType VarType => LearnSigma ? ModelVarType.LearnedRange : SigmaSmall ? ModelVarType.FixedSmall : ModelVarType.FixedLarge;

    /// <summary>As <c>create_gaussian_diffusion</c>: KL terms when <c>use_kl</c>, else MSE (rescaled when sigmas are learned
    /// and rescaled; the hybrid loss).</summary>
    public LossType LossType => UseKl ? LossType.RescaledKl : RescaleLearnedSigmas ? LossType.RescaledMse : LossType.Mse;
}

/// <summary>The values of <c>[UNet]</c>, with the reference's defaults for arguments left out.</summary>
internal sealed record UNetSpec(
    int ImageSize = 64,
    int Channels = 128,
    int ResBlocks = 2,
    string ChannelMult = "",
    string AttentionResolutions = "16,8",
    int Heads = 4,
    int HeadsUpsample = -1,
    double Dropout = 0,
    bool ClassCond = false,
    int NumClasses = 1000,
    bool ScaleShiftNorm = true,
    bool Checkpointing = false);

/// <summary>The values of <c>[Training]</c> (all defaults when the class has none).</summary>
internal sealed record TrainingSpec(
    double Lr = 1e-4,
    int BatchSize = 1,
    int Microbatch = -1,
    string EmaRate = "0.9999",
    ScheduleSampler ScheduleSampler = ScheduleSampler.Uniform,
    double WeightDecay = 0,
    int LrAnnealSteps = 0,
    int LogInterval = 10,
    int SaveInterval = 10000);
