using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The reference's <c>nn.Dropout</c> inside <c>out_layers</c>: in training, each value is zeroed with probability p and
/// the others are multiplied by 1/(1 − p) (rounded to float32 as PyTorch's <c>noise.div_(1 − p)</c> does); in
/// evaluation it passes the input through. The module has no parameters, so the state_dict is unchanged.
/// </summary>
/// <remarks>
/// <para>Why not libtorch's dropout: on the CPU it draws its mask one value at a time from the global generator
/// (17% of a CIFAR-10 training forward) and keeps it for backward as a float32 tensor, 4 bytes per value. Here the
/// mask is a counter-based hash of (seed, position), drawn with vector instructions, and kept as bits, 1/32 of the
/// memory. The seed is one draw from the global generator, so the trainer's per-step seeding and gradient
/// checkpointing's replay of the generator work as before. The masks differ from PyTorch's; no fixture depends on
/// them. In the CIFAR-10 training step at batch 8: 0.93× the step time, and at batch 32 peak RSS 4618 MB instead of
/// 5061 MB (8 steps).</para>
/// <para>Off the CPU, or for other than float32, it calls libtorch's dropout.</para>
/// </remarks>
public sealed class BitMaskDropout : nn.Module<Tensor, Tensor>
{
    /// <param name="probability">The probability of zeroing a value, in [0, 1].</param>
    public BitMaskDropout(double probability) : base("Dropout")
    {
        if (probability is < 0 or > 1 || double.IsNaN(probability))
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "a dropout probability is in [0, 1]");
        Probability = probability;
        RegisterComponents();
    }

    public double Probability { get; }

    /// <summary>A/B switch for the benchmarks: false uses libtorch's dropout everywhere.</summary>
    internal static bool Enabled { get; set; } = true;

    public override Tensor forward(Tensor x)
    {
        if (!training || Probability == 0) return x.alias();
        if (!Enabled || Probability == 1 || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32 || x.numel() > int.MaxValue / 4)
            return nn.functional.dropout(x, Probability, training: true);

        var draw = new DropoutDraw(DrawSeed(), Probability);
        if (!(is_grad_enabled() && x.requires_grad))
        {
            using var mask = DropoutMask.Allocate(x.numel());
            return DropoutMask.Apply(x, mask, draw);
        }
        // The scope frees what TorchSharp allocates per call beside the output (see GradientCheckpoint.Run).
        using var scope = NewDisposeScope();
        return DropoutFunction.apply(x, draw).MoveToOuterDisposeScope();
    }

    /// <summary>One draw from the global generator, as every random op of libtorch's would make.</summary>
    static ulong DrawSeed()
    {
        using var drawn = randint(long.MaxValue, [1], ScalarType.Int64);
        return (ulong)drawn.item<long>();
    }

    sealed class DropoutFunction : autograd.SingleTensorFunction<DropoutFunction>
    {
        const string DrawKey = "draw";

        public override string Name => nameof(BitMaskDropout);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, draw) = ((Tensor)vars[0], (DropoutDraw)vars[1]);
            var mask = DropoutMask.Allocate(x.numel());
            var output = DropoutMask.Apply(x, mask, draw);
            ctx.save_for_backward([mask]);
            ctx.save_data(DrawKey, draw);
            ctx.set_materialize_grads(false);
            return output;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            GradientHandOff.Release();
            try
            {
                if (grad_output.IsInvalid) return [null!, null!];
                var draw = (DropoutDraw)ctx.get_data(DrawKey);
                using var mask = ctx.get_saved_variables()[0];
                var gradient = DropoutMask.Apply(grad_output, mask, draw with { Seed = null });
                GradientHandOff.Add(gradient);
                return [gradient, null!];
            }
            finally
            {
                grad_output.Dispose();
            }
        }
    }
}

/// <summary>A dropout call's parameters: the mask's seed (null: apply the mask already drawn) and the probability.</summary>
readonly record struct DropoutDraw(ulong? Seed, double Probability)
{
    /// <summary>Kept values are multiplied by this, float32(1) / float32(1 − p), as PyTorch's <c>noise.div_(1 − p)</c>.</summary>
    public float Scale => 1f / (float)(1 - Probability);

    /// <summary>A value is kept when its 32-bit hash is below this: probability (1 − p), to 2⁻³².</summary>
    public ulong KeepBelow => (ulong)Math.Round((1 - Probability) * 4294967296.0);
}

/// <summary>
/// The dropout kernels: masks as 16-bit words (bit k of word w keeps element 16·w + k), drawn from SplitMix64 of
/// (seed + counter·γ), where word w's eight counters 8·w … 8·w + 7 give elements 16·w + k (low 32 bits) and
/// 16·w + 8 + k (high 32 bits).
/// </summary>
/// <remarks>One thread: with .NET threads beside libtorch's OpenMP workers, which spin after each parallel region, a
/// two-thread kernel made the training step slower (A/B at batch 8: 1.03× the step time with libtorch's dropout, 0.93×
/// with one thread). Vectorised, one thread draws and applies a [8, 256, 32, 32] mask in about 3 ms, where libtorch's
/// serial Bernoulli draws take 33 ms.</remarks>
static class DropoutMask
{
    const int WordBits = 16;

    /// <summary>A CPU uint8 tensor holding the mask of <paramref name="count"/> values.</summary>
    public static Tensor Allocate(long count) => empty([2 * Words(count)], ScalarType.Byte);

    static long Words(long count) => (count + WordBits - 1) / WordBits;

    /// <summary>
    /// output = mask ⊙ source · scale, for a float32 CPU tensor. With a seed, draws the mask into
    /// <paramref name="mask"/> first; without, reads it.
    /// </summary>
    public static Tensor Apply(Tensor source, Tensor mask, DropoutDraw draw)
    {
        using var scope = NewDisposeScope();
        var input = source.is_contiguous() ? source : source.contiguous();
        var output = empty(input.shape, ScalarType.Float32);
        var count = input.numel();
        unsafe
        {
            fixed (byte* sourceBytes = input.bytes)
            fixed (byte* targetBytes = output.bytes)
            fixed (byte* maskBytes = mask.bytes)
            {
                Run((float*)sourceBytes, (float*)targetBytes, (ushort*)maskBytes, count, draw.Seed, draw.KeepBelow, draw.Scale);
            }
        }
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Forces the scalar kernels (tests compare them with the vectorised ones).</summary>
    internal static bool ForceScalar { get; set; }

    unsafe static void Run(float* source, float* target, ushort* mask, long count, ulong? seed, ulong keepBelow, float scale)
    {
        var vectorised = Vector512.IsHardwareAccelerated && !ForceScalar;
        var fullWords = count / WordBits;
        var lanes = Vector512.Create(1u, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
        var scales = Vector512.Create(scale);
        for (var w = 0L; w < Words(count); w++)
        {
            ushort bits;
            if (seed is { } value)
            {
                bits = vectorised ? DrawVector(value, w, keepBelow) : DrawScalar(value, w, keepBelow);
                mask[w] = bits;
            }
            else bits = mask[w];

            var offset = w * WordBits;
            if (w < fullWords && vectorised)
            {
                var keep = Vector512.Equals(Vector512.Create((uint)bits) & lanes, lanes).AsSingle();
                var scaled = Vector512.Load(source + offset) * scales;
                Vector512.ConditionalSelect(keep, scaled, Vector512<float>.Zero).Store(target + offset);
                continue;
            }
            var length = (int)Math.Min(WordBits, count - offset);
            for (var k = 0; k < length; k++)
                target[offset + k] = (bits >> k & 1) != 0 ? source[offset + k] * scale : 0f;
        }
    }

    const ulong Gamma = 0x9E3779B97F4A7C15;
    const ulong Mix1 = 0xBF58476D1CE4E5B9;
    const ulong Mix2 = 0x94D049BB133111EB;

    static ushort DrawScalar(ulong seed, long word, ulong keepBelow)
    {
        var bits = 0u;
        for (var k = 0; k < 8; k++)
        {
            var z = SplitMix(seed + (ulong)(word * 8 + k) * Gamma);
            if ((z & 0xFFFFFFFF) < keepBelow) bits |= 1u << k;
            if (z >> 32 < keepBelow) bits |= 1u << (8 + k);
        }
        return (ushort)bits;
    }

    static ulong SplitMix(ulong z)
    {
        z = (z ^ (z >> 30)) * Mix1;
        z = (z ^ (z >> 27)) * Mix2;
        return z ^ (z >> 31);
    }

    static ushort DrawVector(ulong seed, long word, ulong keepBelow)
    {
        var counters = Vector512.Create((ulong)word * 8) + Vector512.Create(0ul, 1, 2, 3, 4, 5, 6, 7);
        var z = Vector512.Create(seed) + counters * Gamma;
        z = (z ^ Vector512.ShiftRightLogical(z, 30)) * Mix1;
        z = (z ^ Vector512.ShiftRightLogical(z, 27)) * Mix2;
        z ^= Vector512.ShiftRightLogical(z, 31);
        var threshold = Vector512.Create(keepBelow);
        var low = Vector512.LessThan(z & Vector512.Create(0xFFFFFFFFul), threshold).ExtractMostSignificantBits();
        var high = Vector512.LessThan(Vector512.ShiftRightLogical(z, 32), threshold).ExtractMostSignificantBits();
        return (ushort)(low | high << 8);
    }
}
