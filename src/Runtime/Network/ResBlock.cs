using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The reference's <c>ResBlock</c> (2-D): a residual block conditioned on the timestep embedding, optionally
/// changing the number of channels. Its state_dict keys are the reference's:
/// <c>in_layers.{0 GroupNorm32, 2 conv}</c>, <c>emb_layers.1</c> (the Linear after SiLU), <c>out_layers.{0 GroupNorm32,
/// 3 conv}</c> (SiLU at 1, Dropout at 2) and <c>skip_connection</c> when the channel count changes.
/// </summary>
public sealed class ResBlock : TimestepBlock
{
    public readonly Sequential in_layers;
    public readonly Sequential emb_layers;
    public readonly Sequential out_layers;

    /// <summary>Null when the channel count is unchanged (the reference's parameterless <c>nn.Identity</c>).</summary>
    public readonly Conv2d? skip_connection;

    /// <param name="channels">Input channels.</param>
    /// <param name="embChannels">Width of the timestep embedding.</param>
    /// <param name="dropout">Dropout probability inside <c>out_layers</c>.</param>
    /// <param name="outChannels">Output channels; null keeps <paramref name="channels"/>.</param>
    /// <param name="useConv">When the channel count changes, a 3×3 instead of a 1×1 skip convolution.</param>
    /// <param name="useScaleShiftNorm">The embedding gives a scale and a shift, applied as norm(h)·(1 + scale) + shift,
    /// instead of being added before the norm.</param>
    /// <param name="useCheckpoint">The reference's gradient checkpointing: when gradients are taken, the block keeps only
    /// its inputs and recomputes its activations in the backward pass (<see cref="GradientCheckpoint"/>). Outputs and
    /// gradients are the same as without it, dropout masks included.</param>
    public ResBlock(long channels, long embChannels, double dropout, long? outChannels = null, bool useConv = false,
        bool useScaleShiftNorm = false, bool useCheckpoint = false) : base(nameof(ResBlock))
    {
        Channels = channels;
        OutChannels = outChannels ?? channels;
        UseScaleShiftNorm = useScaleShiftNorm;
        UseCheckpoint = useCheckpoint;
        DropoutProbability = dropout;

        in_layers = nn.Sequential(
            new GroupNorm32(channels),
            new SiLU(),
            nn.Conv2d(channels, OutChannels, 3, padding: 1));
        emb_layers = nn.Sequential(
            new SiLU(),
            nn.Linear(embChannels, useScaleShiftNorm ? 2 * OutChannels : OutChannels));
        out_layers = nn.Sequential(
            new GroupNorm32(OutChannels),
            new SiLU(),
            new BitMaskDropout(dropout),
            ModuleInit.Zeroed(nn.Conv2d(OutChannels, OutChannels, 3, padding: 1)));
        skip_connection = OutChannels == channels
            ? null
            : useConv
                ? nn.Conv2d(channels, OutChannels, 3, padding: 1)
                : nn.Conv2d(channels, OutChannels, 1);
        RegisterComponents();
    }

    public long Channels { get; }

    public long OutChannels { get; }

    public bool UseScaleShiftNorm { get; }

    /// <summary>Recompute the activations in backward instead of keeping them; see the constructor's <c>useCheckpoint</c>.</summary>
    public bool UseCheckpoint { get; set; }

    public double DropoutProbability { get; }

    /// <param name="x">[N, Channels, H, W] features.</param>
    /// <param name="emb">[N, embChannels] timestep embeddings.</param>
    /// <returns>[N, OutChannels, H, W].</returns>
    public override Tensor forward(Tensor x, Tensor emb)
    {
        NetworkChecks.Channels(x, Channels, nameof(ResBlock));
        return UseCheckpoint
            ? GradientCheckpoint.Run(inputs => Compute(inputs[0], inputs[1], recomputeNorms: false), [x, emb], parameters(),
                preserveRandomState: training && DropoutProbability > 0)
            : Compute(x, emb, RecomputeNormalisations);
    }

    /// <summary>
    /// The block on <c>th.cat([h, skip], 1)</c>, as the reference's up path calls it, with the concatenation done inside:
    /// a checkpointed block then keeps <paramref name="h"/> and <paramref name="skip"/> (the skip is kept for the down
    /// path's backward anyway) instead of a copy of both, and concatenates again when it recomputes. Outputs and
    /// gradients are those of <c>forward(cat([h, skip], 1), emb)</c>.
    /// </summary>
    /// <param name="h">[N, C₁, H, W] the previous up block's output.</param>
    /// <param name="skip">[N, C₂, H, W] the down path's output at this resolution, with C₁ + C₂ = Channels.</param>
    /// <param name="emb">[N, embChannels] timestep embeddings.</param>
    public Tensor ForwardConcat(Tensor h, Tensor skip, Tensor emb)
    {
        NetworkChecks.ConcatenatedChannels(h, skip, Channels, nameof(ResBlock));
        if (UseCheckpoint)
        {
            return GradientCheckpoint.Run(inputs =>
            {
                using var scope = NewDisposeScope();
                return Compute(cat([inputs[0], inputs[1]], 1), inputs[2], recomputeNorms: false).MoveToOuterDisposeScope();
            }, [h, skip, emb], parameters(), preserveRandomState: training && DropoutProbability > 0);
        }
        using var concatenation = cat([h, skip], 1);
        return Compute(concatenation, emb, RecomputeNormalisations);
    }

    /// <summary>
    /// Whether a plain (not checkpointed) block recomputes its normalisations in backward: each GroupNorm with what
    /// follows it up to the next convolution or dropout (SiLU, and the scale and shift) runs as a small checkpointed
    /// segment that keeps only its inputs, instead of the norm's output, SiLU's input and its sigmoid. Those are cheap
    /// elementwise passes next to the convolutions, and they hold about half of a block's activations. Values and
    /// gradients are the same (the same operations; no random draw inside a segment).
    /// </summary>
    internal static bool RecomputeNormalisations { get; set; } = true;

    Tensor Compute(Tensor x, Tensor emb, bool recomputeNorms)
    {
        if (!is_grad_enabled() && SiLU.InPlaceWithoutGraph) return ComputeWithoutGraph(x, emb);
        using var scope = NewDisposeScope();
        var (norm1, act1, conv1) = (Layer(in_layers, 0), Layer(in_layers, 1), Layer(in_layers, 2));
        var (norm2, act2) = (Layer(out_layers, 0), Layer(out_layers, 1));
        var h = recomputeNorms
            ? conv1.call(GradientCheckpoint.Run(inputs => act1.call(norm1.call(inputs[0])), [x], norm1.parameters(), preserveRandomState: false))
            : in_layers.call(x);
        var embOut = emb_layers.call(emb).to(h.dtype);
        while (embOut.dim() < h.dim()) embOut = embOut.unsqueeze(-1);
        if (UseScaleShiftNorm)
        {
            var scaleShift = embOut.chunk(2, 1);
            h = recomputeNorms
                ? GradientCheckpoint.Run(inputs => act2.call(ScaleShift(norm2.call(inputs[0]), inputs[1], inputs[2])),
                    [h, scaleShift[0], scaleShift[1]], norm2.parameters(), preserveRandomState: false)
                : act2.call(ScaleShift(norm2.call(h), scaleShift[0], scaleShift[1]));
        }
        else
        {
            h = recomputeNorms
                ? GradientCheckpoint.Run(inputs => act2.call(norm2.call(inputs[0])), [h.Plus(embOut)], norm2.parameters(), preserveRandomState: false)
                : act2.call(norm2.call(h.Plus(embOut)));
        }
        for (var i = 2; i < out_layers.Count; i++) h = Layer(out_layers, i).call(h);
        var skip = skip_connection is null ? x : skip_connection.call(x);
        return skip.Plus(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="Compute"/> when nothing is recorded (sampling, and a checkpointed block's forward): the embedding, the
    /// scale and shift and the skip are added into tensors this block just made, instead of into new ones; four
    /// activations allocated per block instead of eight (with SiLU's own saving). The same operations on the same
    /// operands: the values are identical.
    /// </summary>
    Tensor ComputeWithoutGraph(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var h = in_layers.call(x);
        var embOut = emb_layers.call(emb).to(h.dtype);
        while (embOut.dim() < h.dim()) embOut = embOut.unsqueeze(-1);
        var norm2 = Layer(out_layers, 0);
        if (UseScaleShiftNorm)
        {
            var scaleShift = embOut.chunk(2, 1);
            h = norm2.call(h).mul_(scaleShift[0].Plus(1)).PlusInPlace(scaleShift[1]);
        }
        else
        {
            h = norm2.call(h.PlusInPlace(embOut));
        }
        for (var i = 1; i < out_layers.Count; i++) h = Layer(out_layers, i).call(h);
        // skip + h as h + skip: the sum is the same either way.
        return h.PlusInPlace(skip_connection is null ? x : skip_connection.call(x)).MoveToOuterDisposeScope();
    }

    /// <summary>norm·(1 + scale) + shift, as the reference writes it.</summary>
    static Tensor ScaleShift(Tensor normalised, Tensor scale, Tensor shift)
    {
        using var scope = NewDisposeScope();
        return (normalised * scale.Plus(1)).Plus(shift).MoveToOuterDisposeScope();
    }

    static nn.Module<Tensor, Tensor> Layer(Sequential layers, int index) => (nn.Module<Tensor, Tensor>)layers[index];
}
