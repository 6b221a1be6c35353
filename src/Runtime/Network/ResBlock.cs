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
            nn.Dropout(dropout),
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
            ? GradientCheckpoint.Run(inputs => Compute(inputs[0], inputs[1]), [x, emb], parameters(),
                preserveRandomState: training && DropoutProbability > 0)
            : Compute(x, emb);
    }

    Tensor Compute(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var h = in_layers.call(x);
        var embOut = emb_layers.call(emb).to(h.dtype);
        while (embOut.dim() < h.dim()) embOut = embOut.unsqueeze(-1);
        if (UseScaleShiftNorm)
        {
            var scaleShift = embOut.chunk(2, 1);
            h = (out_layers[0].call(h) * scaleShift[0].Plus(1)).Plus(scaleShift[1]);
            for (var i = 1; i < out_layers.Count; i++) h = out_layers[i].call(h);
        }
        else
        {
            h = out_layers.call(h.Plus(embOut));
        }
        var skip = skip_connection is null ? x : skip_connection.call(x);
        return skip.Plus(h).MoveToOuterDisposeScope();
    }
}
