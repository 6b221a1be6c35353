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
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var layer in layers)
        {
            h = layer switch
            {
                nn.Module<Tensor, Tensor, Tensor> withEmbedding => withEmbedding.call(h, emb),
                nn.Module<Tensor, Tensor> plain => plain.call(h),
                _ => throw new InvalidOperationException($"unsupported layer {layer.GetType().Name}"),
            };
        }
        return h.MoveToOuterDisposeScope();
    }
}
