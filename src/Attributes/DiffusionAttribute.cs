namespace ImprovedDdpm;

/// <summary>
/// Declares the diffusion process of a model class (the reference's diffusion flags in
/// <c>model_and_diffusion_defaults()</c>). Requires a <see cref="UNetAttribute"/> on the same <c>partial</c> class;
/// the source generator then emits the schedule tables, the network and the typed entry points.
/// </summary>
[System.AttributeUsage(System.AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class DiffusionAttribute : System.Attribute
{
    /// <summary>Number of diffusion steps T (<c>--diffusion_steps</c>, default 1000; the paper uses 4000, §3.2). At least 2.</summary>
    public int Steps { get; set; } = 1000;

    /// <summary>The beta schedule (<c>--noise_schedule</c>, default linear; cosine is the paper's §3.2).</summary>
    public NoiseSchedule Schedule { get; set; } = NoiseSchedule.Linear;

    /// <summary>
    /// Learn the reverse-process variance: the network outputs twice the image channels and the variance interpolates
    /// between β̃_t and β_t (<c>--learn_sigma</c>, default false; §3.1, eq. 15).
    /// </summary>
    public bool LearnSigma { get; set; }

    /// <summary>With a fixed variance, use β̃_t (the posterior variance) instead of β_t (<c>--sigma_small</c>, default false).</summary>
    public bool SigmaSmall { get; set; }

    /// <summary>Train on the variational bound L_vlb instead of L_simple/L_hybrid (<c>--use_kl</c>, default false; §3.1).</summary>
    public bool UseKl { get; set; }

    /// <summary>The network predicts x_0 instead of ε (<c>--predict_xstart</c>, default false).</summary>
    public bool PredictXStart { get; set; }

    /// <summary>Feed the network t·1000/T instead of t, so embeddings see the same range for any T (<c>--rescale_timesteps</c>, default true).</summary>
    public bool RescaleTimesteps { get; set; } = true;

    /// <summary>
    /// Scale the VLB term of the hybrid loss by T/1000 (λ = 0.001 at T = 1000) or the bound by T under
    /// <see cref="UseKl"/> (<c>--rescale_learned_sigmas</c>, default true; §3.1).
    /// </summary>
    public bool RescaleLearnedSigmas { get; set; } = true;

    /// <summary>
    /// Default respacing for sampling: <c>"250"</c>, <c>"10,15,20"</c> or <c>"ddimN"</c>; empty uses all steps
    /// (<c>--timestep_respacing</c>, default ""; §4.3). Checked against <see cref="Steps"/> at compile time.
    /// </summary>
    public string TimestepRespacing { get; set; } = "";
}
