using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Tensor arithmetic with numbers (and tensor sums) whose TorchSharp Scalars are held until libtorch has read them.
/// Each method performs exactly the operation TorchSharp's operator would (same kernel, same rounding).
/// </summary>
/// <remarks>
/// TorchSharp 0.107 does not keep a Scalar argument alive across its native call (dotnet/TorchSharp#1434, #1496):
/// a collection on another thread can finalize a temporary Scalar while libtorch still reads it, and a long run dies
/// at a random step ("Expected false to be true … toFloat at c10/core/Scalar.h"). Its operators make such temporaries
/// (<c>t * 0.5</c>, <c>1 - t</c>), and so does <c>x + y</c> of two tensors, which passes alpha = 1 implicitly. The
/// repository's analyzer (build/Analyzers/ImplicitScalarAnalyzer.cs) rejects those forms; these are what it points to.
/// </remarks>
public static class TensorArithmetic
{
    /// <summary>The integer 1, the alpha of PyTorch's <c>x + y</c>; a static field, so never finalized.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>The integer 0, for comparisons such as <c>t.eq(Zero)</c>.</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>x + y of tensors.</summary>
    public static Tensor Plus(this Tensor x, Tensor y) => x.add(y, One);

    /// <summary>x += y of tensors, in place.</summary>
    public static Tensor PlusInPlace(this Tensor x, Tensor y) => x.add_(y, One);

    /// <summary>x + c (also c + x).</summary>
    public static Tensor Plus(this Tensor x, double c)
    {
        using var scalar = c.ToScalar();
        return x.add(scalar, One);
    }

    /// <summary>x − c.</summary>
    public static Tensor Minus(this Tensor x, double c)
    {
        using var scalar = c.ToScalar();
        return x.sub(scalar);
    }

    /// <summary>c − x, computed as TorchSharp's operator does: −x + c.</summary>
    public static Tensor SubtractedFrom(this Tensor x, double c)
    {
        using var scalar = c.ToScalar();
        return x.negative().add(scalar, One);
    }

    /// <summary>x · c (also c · x).</summary>
    public static Tensor Times(this Tensor x, double c)
    {
        using var scalar = c.ToScalar();
        return x.mul(scalar);
    }

    /// <summary>x / c.</summary>
    public static Tensor DividedBy(this Tensor x, double c)
    {
        using var scalar = c.ToScalar();
        return x.div(scalar);
    }

    /// <summary>x^e.</summary>
    public static Tensor Power(this Tensor x, double e)
    {
        using var scalar = e.ToScalar();
        return x.pow(scalar);
    }

    /// <summary>x clamped to [min, max].</summary>
    public static Tensor ClampTo(this Tensor x, double min, double max)
    {
        using var low = min.ToScalar();
        using var high = max.ToScalar();
        return x.clamp(low, high);
    }

    /// <summary>x clamped below at min.</summary>
    public static Tensor ClampMin(this Tensor x, double min)
    {
        using var low = min.ToScalar();
        return x.clamp_min(low);
    }
}
