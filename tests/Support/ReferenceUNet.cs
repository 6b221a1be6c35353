using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// The reference's <c>UNetModel</c> (2-D) assembled from the Runtime blocks, driven by the same arguments; the oracle
/// generated networks are compared with. Fields and their order are the reference's attributes, so state_dict keys,
/// their order and shapes are the reference's. The network does no timestep rescaling: it embeds what it receives.
/// </summary>
public sealed class ReferenceUNet : nn.Module, IDiffusionNetwork
{
    public readonly Sequential time_embed;
    public readonly Embedding? label_emb;
    public readonly ModuleList<TimestepEmbedSequential> input_blocks;
    public readonly TimestepEmbedSequential middle_block;
    public readonly ModuleList<TimestepEmbedSequential> output_blocks;
    public readonly Sequential @out;

    /// <param name="attentionResolutions">Downsample rates (1, 2, 4, …) at which attention is used, like the reference's
    /// internal tuple (its flag's pixel resolutions become image_size // resolution).</param>
    /// <param name="numHeadsUpsample">Heads in the upsampling path; −1 means <paramref name="numHeads"/>.</param>
    public ReferenceUNet(
        long inChannels,
        long modelChannels,
        long outChannels,
        int numResBlocks,
        IReadOnlyCollection<int> attentionResolutions,
        double dropout = 0,
        IReadOnlyList<int>? channelMult = null,
        bool convResample = true,
        long? numClasses = null,
        bool useCheckpoint = false,
        long numHeads = 1,
        long numHeadsUpsample = -1,
        bool useScaleShiftNorm = false) : base(nameof(ReferenceUNet))
    {
        channelMult ??= [1, 2, 4, 8];
        if (numHeadsUpsample == -1) numHeadsUpsample = numHeads;
        ModelChannels = modelChannels;
        NumClasses = numClasses;

        var timeEmbedDim = modelChannels * 4;
        time_embed = nn.Sequential(
            nn.Linear(modelChannels, timeEmbedDim),
            new SiLU(),
            nn.Linear(timeEmbedDim, timeEmbedDim));
        if (numClasses is { } classes) label_emb = nn.Embedding(classes, timeEmbedDim);

        ResBlock Res(long channels, long? outputChannels) => new(channels, timeEmbedDim, dropout, outputChannels,
            useScaleShiftNorm: useScaleShiftNorm, useCheckpoint: useCheckpoint);

        var inputs = new List<TimestepEmbedSequential> { new(nn.Conv2d(inChannels, modelChannels, 3, padding: 1)) };
        var inputBlockChannels = new Stack<long>([modelChannels]);
        var ch = modelChannels;
        var ds = 1;
        for (var level = 0; level < channelMult.Count; level++)
        {
            for (var block = 0; block < numResBlocks; block++)
            {
                var layers = new List<nn.Module> { Res(ch, channelMult[level] * modelChannels) };
                ch = channelMult[level] * modelChannels;
                if (attentionResolutions.Contains(ds)) layers.Add(new AttentionBlock(ch, numHeads, useCheckpoint));
                inputs.Add(new TimestepEmbedSequential([.. layers]));
                inputBlockChannels.Push(ch);
            }
            if (level != channelMult.Count - 1)
            {
                inputs.Add(new TimestepEmbedSequential(new Downsample(ch, convResample)));
                inputBlockChannels.Push(ch);
                ds *= 2;
            }
        }
        input_blocks = nn.ModuleList([.. inputs]);

        middle_block = new TimestepEmbedSequential(
            Res(ch, null),
            new AttentionBlock(ch, numHeads, useCheckpoint),
            Res(ch, null));

        var outputs = new List<TimestepEmbedSequential>();
        for (var level = channelMult.Count - 1; level >= 0; level--)
        {
            for (var block = 0; block <= numResBlocks; block++)
            {
                var layers = new List<nn.Module> { Res(ch + inputBlockChannels.Pop(), modelChannels * channelMult[level]) };
                ch = modelChannels * channelMult[level];
                if (attentionResolutions.Contains(ds)) layers.Add(new AttentionBlock(ch, numHeadsUpsample, useCheckpoint));
                if (level != 0 && block == numResBlocks)
                {
                    layers.Add(new Upsample(ch, convResample));
                    ds /= 2;
                }
                outputs.Add(new TimestepEmbedSequential([.. layers]));
            }
        }
        output_blocks = nn.ModuleList([.. outputs]);

        @out = nn.Sequential(
            new GroupNorm32(ch),
            new SiLU(),
            ModuleInit.Zeroed(nn.Conv2d(modelChannels, outChannels, 3, padding: 1)));
        RegisterComponents();
    }

    public long ModelChannels { get; }

    public long? NumClasses { get; }

    /// <summary>The tiny fixture networks: 8×8 images, 3 input channels, 32 model channels, one res block per level,
    /// channel_mult (1, 2), attention at downsample rate 2 with 2 heads, scale-shift norm, no dropout.</summary>
    public static ReferenceUNet Tiny(long outChannels, long? numClasses = null) => new(
        inChannels: 3, modelChannels: 32, outChannels: outChannels, numResBlocks: 1, attentionResolutions: [2],
        dropout: 0, channelMult: [1, 2], numClasses: numClasses, numHeads: 2, useScaleShiftNorm: true);

    /// <summary>
    /// A tiny fixture network (<c>tiny_unet_fixed</c>, <c>tiny_unet_sigma</c> or <c>tiny_unet_cond</c>) with its
    /// weights loaded from the fixture folder through <see cref="Checkpoint.LoadStateDict"/>, in eval mode.
    /// </summary>
    /// <param name="extension"><c>.safetensors</c> or <c>.pt</c> (the twin with the same weights).</param>
    public static ReferenceUNet LoadTinyFixture(string name, string extension = ".safetensors")
    {
        var network = name switch
        {
            "tiny_unet_fixed" => Tiny(3),
            "tiny_unet_sigma" => Tiny(6),
            "tiny_unet_cond" => Tiny(6, numClasses: 10),
            _ => throw new ArgumentException($"no tiny fixture network named {name}", nameof(name)),
        };
        Checkpoint.LoadStateDict(network, ReferenceFixtures.PathOf(name + extension));
        network.eval();
        return network;
    }

    /// <param name="x">[N, C, H, W] images.</param>
    /// <param name="timesteps">[N] timesteps exactly as the network should embed them (any numeric dtype).</param>
    /// <param name="y">[N] class labels, given if and only if the network is class-conditional.</param>
    public Tensor forward(Tensor x, Tensor timesteps, Tensor? y = null)
    {
        if ((y is not null) != (NumClasses is not null))
            throw new ArgumentException("give y if and only if the network is class-conditional", nameof(y));
        using var scope = NewDisposeScope();
        var emb = time_embed.call(TimestepEmbedding.Sinusoidal(timesteps, ModelChannels));
        if (label_emb is not null && y is not null)
        {
            if (!y.shape.SequenceEqual([x.shape[0]]))
                throw new ArgumentException($"y must be [{x.shape[0]}]; got [{string.Join(",", y.shape)}]", nameof(y));
            emb = emb + label_emb.call(y);
        }

        // As the reference: the torso runs in its parameters' dtype, the output layers in the input's.
        var skips = new Stack<Tensor>();
        var h = x.to(input_blocks.parameters().First().dtype);
        foreach (var block in input_blocks)
        {
            h = block.call(h, emb);
            skips.Push(h);
        }
        h = middle_block.call(h, emb);
        foreach (var block in output_blocks)
            h = block.call(cat([h, skips.Pop()], 1), emb);
        return @out.call(h.to(x.dtype)).MoveToOuterDisposeScope();
    }
}
