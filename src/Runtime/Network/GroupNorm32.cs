using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The reference's <c>normalization(channels)</c>: GroupNorm with 32 groups, evaluated in float32 and cast back to the
/// input's dtype. Its parameters are <c>weight</c> (ones) and <c>bias</c> (zeros), as <c>nn.GroupNorm</c>'s.
/// </summary>
public sealed class GroupNorm32 : nn.Module<Tensor, Tensor>
{
    /// <summary>The number of groups the reference always uses.</summary>
    public const int Groups = 32;

    public readonly Parameter weight;
    public readonly Parameter bias;

    public GroupNorm32(long channels, double eps = 1e-5) : base(nameof(GroupNorm32))
    {
        if (channels <= 0 || channels % Groups != 0)
            throw new ArgumentException($"GroupNorm32 needs a positive multiple of {Groups} channels; got {channels}", nameof(channels));
        Channels = channels;
        Eps = eps;
        weight = Persistent(ones(channels));
        bias = Persistent(zeros(channels));
        RegisterComponents();
    }

    /// <summary>A parameter that belongs to the module, not to whatever dispose scope the module is built in (as
    /// TorchSharp's own modules do with theirs).</summary>
    static Parameter Persistent(Tensor data)
    {
        var parameter = new Parameter(data);
        parameter.DetachFromDisposeScope();
        return parameter;
    }

    public long Channels { get; }

    public double Eps { get; }

    public override Tensor forward(Tensor x)
    {
        if (x.dtype == ScalarType.Float32)
            return nn.functional.group_norm(x, Groups, weight, bias, Eps);
        using var asFloat = x.to(ScalarType.Float32);
        using var normalised = nn.functional.group_norm(asFloat, Groups, weight, bias, Eps);
        return normalised.to(x.dtype);
    }
}
