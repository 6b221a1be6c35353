using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The reference's <c>AttentionBlock</c>: multi-head self-attention over all spatial positions, with a residual.
/// Keys: <c>norm</c> (GroupNorm32), <c>qkv</c> (1×1 Conv1d to 3·C), <c>proj_out</c> (1×1 Conv1d, zero-initialised).
/// </summary>
public sealed class AttentionBlock : nn.Module<Tensor, Tensor>
{
    public readonly GroupNorm32 norm;
    public readonly Conv1d qkv;
    public readonly Conv1d proj_out;

    /// <param name="channels">Channels C; a multiple of 32 (the norm) and of <paramref name="numHeads"/>.</param>
    /// <param name="numHeads">Attention heads; each sees C / numHeads channels.</param>
    /// <param name="useCheckpoint">The reference's gradient checkpointing: when gradients are taken, the block keeps only
    /// its input and recomputes the attention in the backward pass (<see cref="GradientCheckpoint"/>); results are
    /// identical.</param>
    public AttentionBlock(long channels, long numHeads = 1, bool useCheckpoint = false) : base(nameof(AttentionBlock))
    {
        if (numHeads <= 0 || channels % numHeads != 0)
            throw new ArgumentException($"{channels} channels cannot be split into {numHeads} heads", nameof(numHeads));
        Channels = channels;
        NumHeads = numHeads;
        UseCheckpoint = useCheckpoint;
        norm = new GroupNorm32(channels);
        qkv = nn.Conv1d(channels, channels * 3, 1);
        proj_out = ModuleInit.Zeroed(nn.Conv1d(channels, channels, 1));
        RegisterComponents();
    }

    public long Channels { get; }

    public long NumHeads { get; }

    /// <summary>Recompute the activations in backward instead of keeping them; see the constructor's <c>useCheckpoint</c>.</summary>
    public bool UseCheckpoint { get; set; }

    /// <param name="x">[N, C, …spatial].</param>
    public override Tensor forward(Tensor x)
    {
        NetworkChecks.Channels(x, Channels, nameof(AttentionBlock));
        return UseCheckpoint
            ? GradientCheckpoint.Run(inputs => Compute(inputs[0]), [x], parameters(), preserveRandomState: false)
            : Compute(x);
    }

    Tensor Compute(Tensor x)
    {
        using var scope = NewDisposeScope();
        var batch = x.shape[0];
        var flat = x.reshape(batch, Channels, -1);
        var normed = norm.call(flat);
        Tensor h;
        if (FusedAttention && TokenMajorProjections)
        {
            // The 1×1 convolutions as products over [N·T, C] rows: one large matrix product each, which libtorch runs at
            // about 1.6× the rate of its 1×1 Conv1d (measured at T = 256, batch 8 and 32). The same weights and sums, in
            // another order (float32 rounding differs in the last places).
            var projected = nn.functional.linear(normed.transpose(1, 2), qkv.weight!.squeeze(-1), qkv.bias);
            var attended = FusedTokenAttention(projected, NumHeads);
            h = nn.functional.linear(attended, proj_out.weight!.squeeze(-1), proj_out.bias).transpose(1, 2);
        }
        else
        {
            var projected = qkv.call(normed);
            var perHead = projected.reshape(batch * NumHeads, -1, projected.shape[2]);
            var attended = QkvAttention(perHead).reshape(batch, -1, perHead.shape[2]);
            h = proj_out.call(attended);
        }
        return flat.Plus(h).reshape(x.shape).MoveToOuterDisposeScope();
    }

    /// <summary>A/B switch for the benchmarks: the projections as token-major matrix products (true) or as the
    /// reference's 1×1 Conv1d calls.</summary>
    internal static bool TokenMajorProjections { get; set; } = true;

    /// <summary>
    /// <see cref="FusedQkvAttention"/> for token-major projections: <paramref name="projected"/> is [N, T, 3C], each
    /// head's block of 3·ch channels its own [q | k | v], as the reference lays them out.
    /// </summary>
    /// <returns>[N, T, C], head-major channels.</returns>
    static Tensor FusedTokenAttention(Tensor projected, long heads)
    {
        using var scope = NewDisposeScope();
        var (n, t, ch) = (projected.shape[0], projected.shape[1], projected.shape[2] / (3 * heads));
        // [N, T, H, 3, ch] -> [3, N, H, T, ch]
        var parts = projected.reshape(n, t, heads, 3, ch).permute(3, 0, 2, 1, 4).contiguous();
        var attended = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], null!, 0.0, false);
        // [N, H, T, ch] -> [N, T, H·ch]
        return attended.transpose(1, 2).reshape(n, t, heads * ch).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The reference's <c>QKVAttention</c>: <paramref name="qkv"/> is [B, 3·ch, T] holding [q | k | v] along the
    /// channels (B = batch·heads, so each head's block is its own [q | k | v]). q and k are each scaled by ch^(−1/4)
    /// before the product; the softmax over keys runs in float32.
    /// </summary>
    /// <returns>[B, ch, T].</returns>
    public static Tensor QkvAttention(Tensor qkv)
    {
        ArgumentNullException.ThrowIfNull(qkv);
        return FusedAttention ? FusedQkvAttention(qkv) : UnfusedQkvAttention(qkv);
    }

    /// <summary>A/B switch for the benchmarks: libtorch's fused attention (true) or the reference's operations.</summary>
    internal static bool FusedAttention { get; set; } = true;

    /// <summary>
    /// The same product through libtorch's <c>scaled_dot_product_attention</c>: its scale 1/√ch is the reference's
    /// ch^(−1/4) on each of q and k. On the CPU it runs the flash-attention kernel (blocked, online softmax in float32),
    /// which never materialises the [T, T] weights: less memory kept for backward, fewer passes over it.
    /// </summary>
    static Tensor FusedQkvAttention(Tensor qkv)
    {
        using var scope = NewDisposeScope();
        var (b, ch, t) = (qkv.shape[0], qkv.shape[1] / 3, qkv.shape[2]);
        // [B, 3ch, T] -> [3, 1, B, T, ch]: the kernel wants (batch, heads, tokens, channels) with unit last stride.
        var parts = qkv.reshape(1, b, 3, ch, t).permute(2, 0, 1, 4, 3).contiguous();
        var attended = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], null!, 0.0, false);
        // [1, B, T, ch] -> [B, ch, T]
        return attended[0].transpose(1, 2).MoveToOuterDisposeScope();
    }

    static Tensor UnfusedQkvAttention(Tensor qkv)
    {
        using var scope = NewDisposeScope();
        var ch = qkv.shape[1] / 3;
        var qkvParts = qkv.split(ch, 1);
        var scale = 1 / Math.Sqrt(Math.Sqrt(ch));
        var weight = einsum("bct,bcs->bts", qkvParts[0].Times(scale), qkvParts[1].Times(scale));
        weight = softmax(weight.to(ScalarType.Float32), -1).to(weight.dtype);
        return einsum("bts,bcs->bct", weight, qkvParts[2]).MoveToOuterDisposeScope();
    }
}
