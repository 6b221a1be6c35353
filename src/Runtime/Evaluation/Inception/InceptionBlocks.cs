using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// torchvision's <c>BasicConv2d</c>: a convolution without bias, <c>BatchNorm2d(eps=0.001)</c> and ReLU. Its state_dict
/// keys are <c>conv.weight</c> and <c>bn.{weight, bias, running_mean, running_var, num_batches_tracked}</c>.
/// </summary>
public sealed class InceptionBasicConv2d : nn.Module<Tensor, Tensor>
{
    /// <summary>The batch-norm epsilon of the TensorFlow Inception the FID weights come from.</summary>
    public const double BatchNormEps = 0.001;

    public readonly Conv2d conv;
    public readonly BatchNorm2d bn;

    public InceptionBasicConv2d(long inChannels, long outChannels, (long Height, long Width) kernel, long stride = 1,
        (long Height, long Width) padding = default) : base(nameof(InceptionBasicConv2d))
    {
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: (stride, stride), padding: padding, bias: false);
        bn = nn.BatchNorm2d(outChannels, eps: BatchNormEps);
        RegisterComponents();
    }

    /// <summary>A square kernel with the same padding on every side.</summary>
    public InceptionBasicConv2d(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0)
        : this(inChannels, outChannels, (kernel, kernel), stride, (padding, padding))
    {
    }

    public override Tensor forward(Tensor x)
    {
        using var convolved = conv.call(x);
        using var normalised = bn.call(convolved);
        return nn.functional.relu(normalised);
    }
}

/// <summary>The 3×3, stride-1, padding-1 pooling of the pool branches, as the FID Inception computes it.</summary>
static class InceptionPooling
{
    /// <summary>Average pooling that ignores the padded zeros (<c>count_include_pad=False</c>), as TensorFlow's does: the
    /// patch pytorch-fid applies to Mixed_5b–5d, 6b–6e and 7b.</summary>
    public static Tensor AverageExcludingPadding(Tensor x) =>
        nn.functional.avg_pool2d(x, 3, stride: 1, padding: 1, count_include_pad: false);

    /// <summary>Max pooling, which pytorch-fid's <c>FIDInceptionE_2</c> (Mixed_7c) uses instead of average pooling.</summary>
    public static Tensor Max(Tensor x) => nn.functional.max_pool2d(x, 3, stride: 1, padding: 1);
}

/// <summary>pytorch-fid's <c>FIDInceptionA</c> (Mixed_5b, 5c, 5d): torchvision's <c>InceptionA</c> whose pool branch
/// averages without the padded zeros. Output channels: 224 + <c>poolFeatures</c>.</summary>
public sealed class FidInceptionA : nn.Module<Tensor, Tensor>
{
    public readonly InceptionBasicConv2d branch1x1;
    public readonly InceptionBasicConv2d branch5x5_1;
    public readonly InceptionBasicConv2d branch5x5_2;
    public readonly InceptionBasicConv2d branch3x3dbl_1;
    public readonly InceptionBasicConv2d branch3x3dbl_2;
    public readonly InceptionBasicConv2d branch3x3dbl_3;
    public readonly InceptionBasicConv2d branch_pool;

    public FidInceptionA(long inChannels, long poolFeatures) : base(nameof(FidInceptionA))
    {
        branch1x1 = new InceptionBasicConv2d(inChannels, 64, 1);
        branch5x5_1 = new InceptionBasicConv2d(inChannels, 48, 1);
        branch5x5_2 = new InceptionBasicConv2d(48, 64, 5, padding: 2);
        branch3x3dbl_1 = new InceptionBasicConv2d(inChannels, 64, 1);
        branch3x3dbl_2 = new InceptionBasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new InceptionBasicConv2d(96, 96, 3, padding: 1);
        branch_pool = new InceptionBasicConv2d(inChannels, poolFeatures, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b1 = branch1x1.call(x);
        var b5 = branch5x5_2.call(branch5x5_1.call(x));
        var b3 = branch3x3dbl_3.call(branch3x3dbl_2.call(branch3x3dbl_1.call(x)));
        var pool = branch_pool.call(InceptionPooling.AverageExcludingPadding(x));
        return cat([b1, b5, b3, pool], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's <c>InceptionB</c> (Mixed_6a), unpatched: the grid reduction 35×35 → 17×17, output
/// 384 + 96 + in channels.</summary>
public sealed class InceptionB : nn.Module<Tensor, Tensor>
{
    public readonly InceptionBasicConv2d branch3x3;
    public readonly InceptionBasicConv2d branch3x3dbl_1;
    public readonly InceptionBasicConv2d branch3x3dbl_2;
    public readonly InceptionBasicConv2d branch3x3dbl_3;

    public InceptionB(long inChannels) : base(nameof(InceptionB))
    {
        branch3x3 = new InceptionBasicConv2d(inChannels, 384, 3, stride: 2);
        branch3x3dbl_1 = new InceptionBasicConv2d(inChannels, 64, 1);
        branch3x3dbl_2 = new InceptionBasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new InceptionBasicConv2d(96, 96, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b3 = branch3x3.call(x);
        var b3dbl = branch3x3dbl_3.call(branch3x3dbl_2.call(branch3x3dbl_1.call(x)));
        var pool = nn.functional.max_pool2d(x, 3, stride: 2);
        return cat([b3, b3dbl, pool], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>pytorch-fid's <c>FIDInceptionC</c> (Mixed_6b–6e): torchvision's <c>InceptionC</c> with factorised 7×7
/// convolutions, whose pool branch averages without the padded zeros. Output: 768 channels.</summary>
public sealed class FidInceptionC : nn.Module<Tensor, Tensor>
{
    public readonly InceptionBasicConv2d branch1x1;
    public readonly InceptionBasicConv2d branch7x7_1;
    public readonly InceptionBasicConv2d branch7x7_2;
    public readonly InceptionBasicConv2d branch7x7_3;
    public readonly InceptionBasicConv2d branch7x7dbl_1;
    public readonly InceptionBasicConv2d branch7x7dbl_2;
    public readonly InceptionBasicConv2d branch7x7dbl_3;
    public readonly InceptionBasicConv2d branch7x7dbl_4;
    public readonly InceptionBasicConv2d branch7x7dbl_5;
    public readonly InceptionBasicConv2d branch_pool;

    public FidInceptionC(long inChannels, long channels7x7) : base(nameof(FidInceptionC))
    {
        var c7 = channels7x7;
        branch1x1 = new InceptionBasicConv2d(inChannels, 192, 1);
        branch7x7_1 = new InceptionBasicConv2d(inChannels, c7, 1);
        branch7x7_2 = new InceptionBasicConv2d(c7, c7, (1, 7), padding: (0, 3));
        branch7x7_3 = new InceptionBasicConv2d(c7, 192, (7, 1), padding: (3, 0));
        branch7x7dbl_1 = new InceptionBasicConv2d(inChannels, c7, 1);
        branch7x7dbl_2 = new InceptionBasicConv2d(c7, c7, (7, 1), padding: (3, 0));
        branch7x7dbl_3 = new InceptionBasicConv2d(c7, c7, (1, 7), padding: (0, 3));
        branch7x7dbl_4 = new InceptionBasicConv2d(c7, c7, (7, 1), padding: (3, 0));
        branch7x7dbl_5 = new InceptionBasicConv2d(c7, 192, (1, 7), padding: (0, 3));
        branch_pool = new InceptionBasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b1 = branch1x1.call(x);
        var b7 = branch7x7_3.call(branch7x7_2.call(branch7x7_1.call(x)));
        var b7dbl = branch7x7dbl_1.call(x);
        b7dbl = branch7x7dbl_3.call(branch7x7dbl_2.call(b7dbl));
        b7dbl = branch7x7dbl_5.call(branch7x7dbl_4.call(b7dbl));
        var pool = branch_pool.call(InceptionPooling.AverageExcludingPadding(x));
        return cat([b1, b7, b7dbl, pool], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's <c>InceptionD</c> (Mixed_7a), unpatched: the grid reduction 17×17 → 8×8, output
/// 320 + 192 + in channels.</summary>
public sealed class InceptionD : nn.Module<Tensor, Tensor>
{
    public readonly InceptionBasicConv2d branch3x3_1;
    public readonly InceptionBasicConv2d branch3x3_2;
    public readonly InceptionBasicConv2d branch7x7x3_1;
    public readonly InceptionBasicConv2d branch7x7x3_2;
    public readonly InceptionBasicConv2d branch7x7x3_3;
    public readonly InceptionBasicConv2d branch7x7x3_4;

    public InceptionD(long inChannels) : base(nameof(InceptionD))
    {
        branch3x3_1 = new InceptionBasicConv2d(inChannels, 192, 1);
        branch3x3_2 = new InceptionBasicConv2d(192, 320, 3, stride: 2);
        branch7x7x3_1 = new InceptionBasicConv2d(inChannels, 192, 1);
        branch7x7x3_2 = new InceptionBasicConv2d(192, 192, (1, 7), padding: (0, 3));
        branch7x7x3_3 = new InceptionBasicConv2d(192, 192, (7, 1), padding: (3, 0));
        branch7x7x3_4 = new InceptionBasicConv2d(192, 192, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b3 = branch3x3_2.call(branch3x3_1.call(x));
        var b7 = branch7x7x3_2.call(branch7x7x3_1.call(x));
        b7 = branch7x7x3_4.call(branch7x7x3_3.call(b7));
        var pool = nn.functional.max_pool2d(x, 3, stride: 2);
        return cat([b3, b7, pool], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>Which pooling the pool branch of an <see cref="FidInceptionE"/> block uses.</summary>
public enum InceptionEPooling
{
    /// <summary>pytorch-fid's <c>FIDInceptionE_1</c> (Mixed_7b): average pooling without the padded zeros.</summary>
    AverageExcludingPadding,

    /// <summary>pytorch-fid's <c>FIDInceptionE_2</c> (Mixed_7c): max pooling, as the TensorFlow graph has it.</summary>
    Max,
}

/// <summary>pytorch-fid's <c>FIDInceptionE_1</c> / <c>FIDInceptionE_2</c> (Mixed_7b / 7c): torchvision's
/// <c>InceptionE</c> with the pool branch chosen by <see cref="Pooling"/>. Output: 2048 channels.</summary>
public sealed class FidInceptionE : nn.Module<Tensor, Tensor>
{
    public readonly InceptionBasicConv2d branch1x1;
    public readonly InceptionBasicConv2d branch3x3_1;
    public readonly InceptionBasicConv2d branch3x3_2a;
    public readonly InceptionBasicConv2d branch3x3_2b;
    public readonly InceptionBasicConv2d branch3x3dbl_1;
    public readonly InceptionBasicConv2d branch3x3dbl_2;
    public readonly InceptionBasicConv2d branch3x3dbl_3a;
    public readonly InceptionBasicConv2d branch3x3dbl_3b;
    public readonly InceptionBasicConv2d branch_pool;

    public FidInceptionE(long inChannels, InceptionEPooling pooling) : base(nameof(FidInceptionE))
    {
        Pooling = pooling;
        branch1x1 = new InceptionBasicConv2d(inChannels, 320, 1);
        branch3x3_1 = new InceptionBasicConv2d(inChannels, 384, 1);
        branch3x3_2a = new InceptionBasicConv2d(384, 384, (1, 3), padding: (0, 1));
        branch3x3_2b = new InceptionBasicConv2d(384, 384, (3, 1), padding: (1, 0));
        branch3x3dbl_1 = new InceptionBasicConv2d(inChannels, 448, 1);
        branch3x3dbl_2 = new InceptionBasicConv2d(448, 384, 3, padding: 1);
        branch3x3dbl_3a = new InceptionBasicConv2d(384, 384, (1, 3), padding: (0, 1));
        branch3x3dbl_3b = new InceptionBasicConv2d(384, 384, (3, 1), padding: (1, 0));
        branch_pool = new InceptionBasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    public InceptionEPooling Pooling { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b1 = branch1x1.call(x);
        var b3 = branch3x3_1.call(x);
        b3 = cat([branch3x3_2a.call(b3), branch3x3_2b.call(b3)], 1);
        var b3dbl = branch3x3dbl_2.call(branch3x3dbl_1.call(x));
        b3dbl = cat([branch3x3dbl_3a.call(b3dbl), branch3x3dbl_3b.call(b3dbl)], 1);
        var pooled = Pooling == InceptionEPooling.Max ? InceptionPooling.Max(x) : InceptionPooling.AverageExcludingPadding(x);
        var pool = branch_pool.call(pooled);
        return cat([b1, b3, b3dbl, pool], 1).MoveToOuterDisposeScope();
    }
}
