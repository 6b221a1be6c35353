namespace ImprovedDdpm.Generators.Model;

/// <summary>What one layer inside a <c>TimestepEmbedSequential</c> is.</summary>
internal enum LayerKind
{
    /// <summary>The stem: a 3×3 convolution from the image channels.</summary>
    InputConv,
    ResBlock,
    Attention,
    Downsample,
    Upsample,
}

/// <summary>One layer with its channel counts fixed at compile time (<see cref="Heads"/> only for attention).</summary>
internal sealed record LayerPlan(LayerKind Kind, int InChannels, int OutChannels, int Heads = 0);

/// <summary>One <c>TimestepEmbedSequential</c>: its layers and the resolution its res blocks run at (a downsample
/// block counts as the first of the level it leads into; an upsample closes the level it belongs to).</summary>
internal sealed record BlockPlan(int Resolution, EquatableArray<LayerPlan> Layers)
{
    public int OutChannels => Layers[Layers.Count - 1].OutChannels;
}

/// <summary>
/// The reference's <c>UNetModel</c> unrolled for one configuration: every block of <c>input_blocks</c>,
/// <c>middle_block</c> and <c>output_blocks</c> with its channel counts, the resolution of each level and where
/// attention runs. Computed once at compile time; the emitter only prints it. <see cref="InChannels"/> counts the
/// image's channels; a super-resolution stem reads twice as many.
/// </summary>
internal sealed record NetworkPlan(
    int ImageSize,
    int InChannels,
    int ModelChannels,
    int OutChannels,
    EquatableArray<int> ChannelMult,
    EquatableArray<int> AttentionResolutions,
    int NumClasses,
    double Dropout,
    bool ScaleShiftNorm,
    bool Checkpointing,
    EquatableArray<BlockPlan> InputBlocks,
    BlockPlan MiddleBlock,
    EquatableArray<BlockPlan> OutputBlocks,
    int SmallSize = 0)
{
    /// <summary>Whether the network also takes a low-resolution image (side <see cref="SmallSize"/>).</summary>
    public bool SuperResolution => SmallSize > 0;

    /// <summary>Width of the timestep (and class) embedding: four times the model channels, as the reference.</summary>
    public int EmbedChannels => 4 * ModelChannels;

    /// <summary>Whether <c>label_emb</c> exists (0 classes means unconditional).</summary>
    public bool ClassConditional => NumClasses > 0;

    /// <summary>The resolutions the levels run at, largest first (32, 16, 8, 4 for CIFAR-10).</summary>
    public IEnumerable<int> Resolutions => ChannelMult.Select((_, level) => ImageSize >> level);

    /// <summary>The number of parameters, counted from the plan (checked against the built network by the tests).</summary>
    public long ParameterCount
    {
        get
        {
            long embed = EmbedChannels;
            long count = Linear(ModelChannels, embed) + Linear(embed, embed);
            if (ClassConditional) count += NumClasses * embed;
            foreach (var block in InputBlocks.Concat([MiddleBlock]).Concat(OutputBlocks))
            {
                foreach (var layer in block.Layers) count += Parameters(layer);
            }
            var last = OutputBlocks[OutputBlocks.Count - 1].OutChannels;
            return count + GroupNorm(last) + Conv(last, OutChannels, 3);
        }
    }

    long Parameters(LayerPlan layer) => layer.Kind switch
    {
        LayerKind.InputConv => Conv(layer.InChannels, layer.OutChannels, 3),
        LayerKind.ResBlock =>
            GroupNorm(layer.InChannels) + Conv(layer.InChannels, layer.OutChannels, 3)
            + Linear(EmbedChannels, ScaleShiftNorm ? 2 * layer.OutChannels : layer.OutChannels)
            + GroupNorm(layer.OutChannels) + Conv(layer.OutChannels, layer.OutChannels, 3)
            + (layer.InChannels == layer.OutChannels ? 0 : Conv(layer.InChannels, layer.OutChannels, 1)),
        LayerKind.Attention => GroupNorm(layer.InChannels) + Conv(layer.InChannels, 3 * layer.InChannels, 1) + Conv(layer.InChannels, layer.InChannels, 1),
        _ => Conv(layer.InChannels, layer.OutChannels, 3),
    };

    static long Conv(long inChannels, long outChannels, long kernel) => (inChannels * kernel * kernel * outChannels) + outChannels;

    static long Linear(long inFeatures, long outFeatures) => (inFeatures * outFeatures) + outFeatures;

    static long GroupNorm(long channels) => 2 * channels;
}
