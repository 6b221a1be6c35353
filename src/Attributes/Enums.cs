namespace ImprovedDdpm;

/// <summary>The beta schedule (reference: <c>get_named_beta_schedule</c>; paper §3.2).</summary>
public enum NoiseSchedule
{
    /// <summary>Ho et al.'s linear betas from 1e-4 to 0.02, rescaled by 1000/T so any number of steps works.</summary>
    Linear,

    /// <summary>ᾱ(t) = cos²(((t/T) + s)/(1 + s) · π/2) with s = 0.008, betas clipped at 0.999 (paper eq. 17).</summary>
    Cosine,
}

/// <summary>What the network predicts (reference: <c>ModelMeanType</c>).</summary>
public enum ModelMeanType
{
    /// <summary>x_{t−1} directly.</summary>
    PreviousX,

    /// <summary>x_0 (the reference's <c>predict_xstart</c>).</summary>
    StartX,

    /// <summary>The noise ε (the default, paper eq. 11).</summary>
    Epsilon,
}

/// <summary>How the reverse-process variance is obtained (reference: <c>ModelVarType</c>; paper §3.1).</summary>
public enum ModelVarType
{
    /// <summary>The network outputs log Σ directly.</summary>
    Learned,

    /// <summary>Σ = β̃_t, the posterior variance (the reference's <c>sigma_small</c>).</summary>
    FixedSmall,

    /// <summary>Σ = β_t (with β̃_1 at t = 0).</summary>
    FixedLarge,

    /// <summary>The network outputs v ∈ [−1, 1] interpolating log Σ between log β̃_t and log β_t (paper eq. 15).</summary>
    LearnedRange,
}

/// <summary>The training objective (reference: <c>LossType</c>; paper §3.1).</summary>
public enum LossType
{
    /// <summary>L_simple, plus the plain VLB term when the variance is learned.</summary>
    Mse,

    /// <summary>L_hybrid: L_simple plus the VLB term scaled by T/1000 (λ = 0.001 at T = 1000).</summary>
    RescaledMse,

    /// <summary>L_vlb.</summary>
    Kl,

    /// <summary>L_vlb multiplied by T, an estimate of the full bound.</summary>
    RescaledKl,
}

/// <summary>How training timesteps are drawn (reference: <c>create_named_schedule_sampler</c>; paper §3.3).</summary>
public enum ScheduleSampler
{
    /// <summary>t uniform over [0, T).</summary>
    Uniform,

    /// <summary>Importance sampling with p_t ∝ sqrt(E[L_t²]) over the last 10 losses per t (paper eq. 18).</summary>
    LossSecondMoment,
}
