namespace ImprovedDdpm;

/// <summary>
/// Declares the U-Net of a model class (the reference's <c>UNetModel</c> flags in <c>model_and_diffusion_defaults()</c>;
/// Ho et al.'s architecture with the paper's changes, §2 and appendix A).
/// </summary>
[System.AttributeUsage(System.AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class UNetAttribute : System.Attribute
{
    /// <summary>Image side in pixels (<c>--image_size</c>, default 64).</summary>
    public int ImageSize { get; set; } = 64;

    /// <summary>Base channel count (<c>--num_channels</c>, default 128).</summary>
    public int Channels { get; set; } = 128;

    /// <summary>Residual blocks per resolution (<c>--num_res_blocks</c>, default 2; the paper's models use 3).</summary>
    public int ResBlocks { get; set; } = 2;

    /// <summary>
    /// Channel multiplier per resolution, comma-separated, e.g. <c>"1,2"</c>. Empty uses the reference's choice for the
    /// image size: (1,1,2,2,4,4) at 256, (1,2,3,4) at 64, (1,2,2,2) at 32; other sizes must give it.
    /// </summary>
    public string ChannelMult { get; set; } = "";

    /// <summary>Resolutions in pixels with self-attention, comma-separated (<c>--attention_resolutions</c>, default "16,8").</summary>
    public string AttentionResolutions { get; set; } = "16,8";

    /// <summary>Attention heads (<c>--num_heads</c>, default 4); must divide the channels at every attention layer.</summary>
    public int Heads { get; set; } = 4;

    /// <summary>Attention heads on the upsampling path; −1 means <see cref="Heads"/> (<c>--num_heads_upsample</c>, default −1).</summary>
    public int HeadsUpsample { get; set; } = -1;

    /// <summary>Dropout in the residual blocks, in [0, 1) (<c>--dropout</c>, default 0; 0.3 for CIFAR-10, §2.4).</summary>
    public double Dropout { get; set; }

    /// <summary>Condition on class labels through a learned embedding (<c>--class_cond</c>, default false).</summary>
    public bool ClassCond { get; set; }

    /// <summary>Number of classes of a class-conditional model (the reference's NUM_CLASSES, 1000).</summary>
    public int NumClasses { get; set; } = 1000;

    /// <summary>Condition residual blocks by scale and shift of the normalised activations (<c>--use_scale_shift_norm</c>, default true).</summary>
    public bool ScaleShiftNorm { get; set; } = true;

    /// <summary>
    /// Gradient checkpointing to trade compute for memory (<c>--use_checkpoint</c>, default false): in training, each
    /// residual and attention block keeps only its inputs and recomputes its activations in the backward pass. Losses
    /// and gradients are those of the plain network (dropout masks are replayed); sampling is unaffected.
    /// </summary>
    public bool Checkpointing { get; set; }
}
