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
    EquatableArray<int> DefaultRespacedTimesteps,
    SuperResSpec? SuperRes = null)
{
    /// <summary>The class's full name without <c>global::</c>, used for hint names and module names.</summary>
    public string FullName => Namespace is null ? ClassName : $"{Namespace}.{ClassName}";
}

/// <summary>The values of <c>[Diffusion]</c>; arguments left out keep the attribute's own defaults.</summary>
internal sealed record DiffusionSpec(
    int Steps,
    NoiseSchedule Schedule,
    bool LearnSigma,
    bool SigmaSmall,
    bool UseKl,
    bool PredictXStart,
    bool RescaleTimesteps,
    bool RescaleLearnedSigmas,
    string TimestepRespacing)
{
    /// <summary>An attribute with no arguments, read from the attribute class itself: its defaults are written once.</summary>
    public static DiffusionSpec Defaults { get; } = From(new DiffusionAttribute());

    static DiffusionSpec From(DiffusionAttribute a) => new(a.Steps, a.Schedule, a.LearnSigma, a.SigmaSmall, a.UseKl, a.PredictXStart,
        a.RescaleTimesteps, a.RescaleLearnedSigmas, a.TimestepRespacing);

    /// <summary>As the reference's <c>create_gaussian_diffusion</c>: predict x_0 or ε.</summary>
    public ModelMeanType MeanType => PredictXStart ? ModelMeanType.StartX : ModelMeanType.Epsilon;

    /// <summary>As <c>create_gaussian_diffusion</c>: a learned range, else the small or large fixed variance.</summary>
    public ModelVarType VarType => LearnSigma ? ModelVarType.LearnedRange : SigmaSmall ? ModelVarType.FixedSmall : ModelVarType.FixedLarge;

    /// <summary>As <c>create_gaussian_diffusion</c>: KL terms when <c>use_kl</c>, else MSE (rescaled when sigmas are learned
    /// and rescaled; the hybrid loss).</summary>
    public LossType LossType => UseKl ? LossType.RescaledKl : RescaleLearnedSigmas ? LossType.RescaledMse : LossType.Mse;
}

/// <summary>The values of <c>[UNet]</c>; arguments left out keep the attribute's own defaults.</summary>
internal sealed record UNetSpec(
    int ImageSize,
    int Channels,
    int ResBlocks,
    string ChannelMult,
    string AttentionResolutions,
    int Heads,
    int HeadsUpsample,
    double Dropout,
    bool ClassCond,
    int NumClasses,
    bool ScaleShiftNorm,
    bool Checkpointing)
{
    /// <summary>An attribute with no arguments, read from the attribute class itself.</summary>
    public static UNetSpec Defaults { get; } = From(new UNetAttribute());

    static UNetSpec From(UNetAttribute a) => new(a.ImageSize, a.Channels, a.ResBlocks, a.ChannelMult, a.AttentionResolutions, a.Heads,
        a.HeadsUpsample, a.Dropout, a.ClassCond, a.NumClasses, a.ScaleShiftNorm, a.Checkpointing);
}

/// <summary>The values of <c>[SuperRes]</c>, on a super-resolution model only.</summary>
internal sealed record SuperResSpec(int SmallSize)
{
    /// <summary>An attribute with no arguments, read from the attribute class itself.</summary>
    public static SuperResSpec Defaults { get; } = new(new SuperResAttribute().SmallSize);
}

/// <summary>The values of <c>[Training]</c> (the attribute's defaults when the class has none).</summary>
internal sealed record TrainingSpec(
    double Lr,
    int BatchSize,
    int Microbatch,
    string EmaRate,
    ScheduleSampler ScheduleSampler,
    double WeightDecay,
    int LrAnnealSteps,
    int LogInterval,
    int SaveInterval)
{
    /// <summary>An attribute with no arguments, read from the attribute class itself.</summary>
    public static TrainingSpec Defaults { get; } = From(new TrainingAttribute());

    static TrainingSpec From(TrainingAttribute a) => new(a.Lr, a.BatchSize, a.Microbatch, a.EmaRate, a.ScheduleSampler, a.WeightDecay,
        a.LrAnnealSteps, a.LogInterval, a.SaveInterval);
}
