using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>A block whose forward takes the timestep embedding as a second input (the reference's <c>TimestepBlock</c>).</summary>
public abstract class TimestepBlock(string name) : nn.Module<Tensor, Tensor, Tensor>(name)
{
}

/// <summary>
/// The reference's <c>TimestepEmbedSequential</c>: applies its layers in order, passing the embedding to those that
/// take one (<see cref="TimestepBlock"/>s, or any two-input module). Layers are registered as "0", "1", …, so the
/// state_dict keys are <c>prefix.0.weight</c>, <c>prefix.1.qkv.weight</c> and so on, as the reference's.
/// </summary>
/// <remarks>
/// When every res and attention block in it checkpoints (<see cref="ResBlock.UseCheckpoint"/>,
/// <see cref="AttentionBlock.UseCheckpoint"/>), the whole step is one checkpoint: it keeps its own input instead of
/// each block's (the res block's output that feeds the attention block, the activation an upsampling convolution
/// reads), and recomputes the step in backward. Each block is recomputed once either way (the upsampling convolution
/// too); gradients are the same.
/// </remarks>
public sealed class TimestepEmbedSequential : TimestepBlock
{
    readonly nn.Module[] layers;

    /// <param name="layers">Each a one-input <c>Module&lt;Tensor, Tensor&gt;</c> or a two-input
    /// <c>Module&lt;Tensor, Tensor, Tensor&gt;</c> taking (x, emb).</param>
    public TimestepEmbedSequential(params nn.Module[] layers) : base(nameof(TimestepEmbedSequential))
    {
        ArgumentNullException.ThrowIfNull(layers);
        for (var i = 0; i < layers.Length; i++)
        {
            if (layers[i] is not (nn.Module<Tensor, Tensor> or nn.Module<Tensor, Tensor, Tensor>))
                throw new ArgumentException($"layer {i} ({layers[i]?.GetType().Name ?? "null"}) takes neither x nor (x, emb)", nameof(layers));
            register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), layers[i]);
        }
        this.layers = layers;
        RegisterComponents();
    }

    public int Count => layers.Length;

    public nn.Module this[int index] => layers[index];

    public override Tensor forward(Tensor x, Tensor emb)
    {
        if (layers.Length == 0) return x.alias();
        return CheckpointsAsOne
            ? GradientCheckpoint.Run(inputs => Apply(inputs[0], inputs[1]), [x, emb], parameters(), ReplaysDropout)
            : Apply(x, emb);
    }

    /// <summary>
    /// One step of the up path: the layers applied to <c>th.cat([h, skip], 1)</c>, after which <paramref name="h"/> is
    /// this block's output and the previous one is disposed (nothing but the concatenation reads it; autograd keeps what
    /// it saved). A leading <see cref="ResBlock"/> concatenates inside (<see cref="ResBlock.ForwardConcat"/>), so with
    /// gradient checkpointing no concatenated copy is kept for backward.
    /// </summary>
    public void ForwardUp(ref Tensor h, Tensor skip, Tensor emb)
    {
        ArgumentNullException.ThrowIfNull(h);
        ArgumentNullException.ThrowIfNull(skip);
        Tensor output;
        if (layers.Length > 0 && layers[0] is ResBlock first)
        {
            output = CheckpointsAsOne
                ? GradientCheckpoint.Run(inputs => ApplyConcat(first, inputs[0], inputs[1], inputs[2]), [h, skip, emb], parameters(), ReplaysDropout)
                : ApplyConcat(first, h, skip, emb);
        }
        else
        {
            using var concatenation = cat([h, skip], 1);
            output = forward(concatenation, emb);
        }
        h.Dispose();
        h = output;
    }

    bool CheckpointsAsOne =>
        layers.Any(layer => layer is ResBlock or AttentionBlock)
        && layers.All(layer => layer switch
        {
            ResBlock res => res.UseCheckpoint,
            AttentionBlock attention => attention.UseCheckpoint,
            _ => true,
        });

    bool ReplaysDropout => training && layers.Any(layer => layer is ResBlock { DropoutProbability: > 0 });

    Tensor Apply(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var layer in layers) h = Apply(layer, h, emb);
        return h.MoveToOuterDisposeScope();
    }

    Tensor ApplyConcat(ResBlock first, Tensor h, Tensor skip, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var x = first.ForwardConcat(h, skip, emb);
        for (var i = 1; i < layers.Length; i++) x = Apply(layers[i], x, emb);
        return x.MoveToOuterDisposeScope();
    }

    static Tensor Apply(nn.Module layer, Tensor x, Tensor emb) => layer switch
    {
        nn.Module<Tensor, Tensor, Tensor> withEmbedding => withEmbedding.call(x, emb),
        nn.Module<Tensor, Tensor> plain => plain.call(x),
        _ => throw new InvalidOperationException($"unsupported layer {layer.GetType().Name}"),
    };
}
