namespace ImprovedDdpm;

/// <summary>
/// Training defaults of a model class (the reference's <c>image_train.py</c> flags). Every value can be overridden on
/// the generated trainer's command line.
/// </summary>
[System.AttributeUsage(System.AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class TrainingAttribute : System.Attribute
{
    /// <summary>AdamW learning rate (<c>--lr</c>, default 1e-4).</summary>
    public double Lr { get; set; } = 1e-4;

    /// <summary>Examples per optimiser step (<c>--batch_size</c>, default 1).</summary>
    public int BatchSize { get; set; } = 1;

    /// <summary>Split each batch into microbatches of this size, accumulating gradients; −1 disables (<c>--microbatch</c>, default −1).</summary>
    public int Microbatch { get; set; } = -1;

    /// <summary>Exponential moving average rates of the weights, comma-separated (<c>--ema_rate</c>, default "0.9999").</summary>
    public string EmaRate { get; set; } = "0.9999";

    /// <summary>How timesteps are drawn (<c>--schedule_sampler</c>, default uniform; loss-second-moment for L_vlb, §3.3).</summary>
    public ScheduleSampler ScheduleSampler { get; set; } = ScheduleSampler.Uniform;

    /// <summary>AdamW weight decay (<c>--weight_decay</c>, default 0).</summary>
    public double WeightDecay { get; set; }

    /// <summary>Anneal the learning rate linearly to 0 over this many steps and stop; 0 disables (<c>--lr_anneal_steps</c>, default 0).</summary>
    public int LrAnnealSteps { get; set; }

    /// <summary>Steps between log lines (<c>--log_interval</c>, default 10).</summary>
    public int LogInterval { get; set; } = 10;

    /// <summary>Steps between checkpoints (<c>--save_interval</c>, default 10000).</summary>
    public int SaveInterval { get; set; } = 10000;
}
