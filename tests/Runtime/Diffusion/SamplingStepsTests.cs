using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Diffusion;

/// <summary>sampling_steps: p_mean_variance, p_sample, ddim_sample (η 0 and 0.5) and ddim_reverse_sample on cosine T = 4000.</summary>
public sealed class SamplingStepsTests
{
    const string File = "sampling_steps.safetensors";
    static readonly IReadOnlyDictionary<string, FixtureTensor> Reference = ReferenceFixtures.Tensors(File);
    static readonly Tolerance Tolerance = ReferenceFixtures.ToleranceOf(File);

    public static TheoryData<string, bool> Cases => new()
    {
        { "learned_range", true }, { "learned_range", false }, { "fixed_small", true }, { "fixed_small", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_step_matches_the_reference(string variance, bool clip)
    {
        using var scope = NewDisposeScope();
        var varType = variance == "learned_range" ? ModelVarType.LearnedRange : ModelVarType.FixedSmall;
        var diffusion = new GaussianDiffusion(BetaSchedules.Cosine(4000), ModelMeanType.Epsilon, varType, LossType.Mse);
        var network = TinyNetworks.For(varType);
        var (x, t) = (Reference["x"].ToTorch(), Reference["t"].ToTorch());
        var prefix = $"{variance}/clip_{(clip ? "true" : "false")}/";
        var allowance = NetworkErrorAllowance(diffusion, network, x, t, clip);
        void Check(string name, Tensor actual) => Tolerance.AssertClose(Reference[prefix + name], actual, prefix + name, allowance);
        INoiseSource Draw(string step) => new ReplayNoiseSource([Reference[prefix + step + "/noise"].ToTorch()]);

        var output = diffusion.PMeanVariance(network, x, t, clip);
        Check("p_mean_variance/mean", output.Mean);
        Check("p_mean_variance/variance", output.Variance);
        Check("p_mean_variance/log_variance", output.LogVariance);
        Check("p_mean_variance/pred_xstart", output.PredXStart);

        Check("p_sample/sample", diffusion.PSample(network, x, t, Draw("p_sample"), clip).Sample);
        Check("ddim_sample_eta_0.0/sample", diffusion.DdimSample(network, x, t, Draw("ddim_sample_eta_0.0"), 0.0, clip).Sample);
        Check("ddim_sample_eta_0.5/sample", diffusion.DdimSample(network, x, t, Draw("ddim_sample_eta_0.5"), 0.5, clip).Sample);
        Check("ddim_reverse_sample/sample", diffusion.DdimReverseSample(network, x, t, clip).Sample);
    }

    /// <summary>
    /// Without clipping, x_0 = x_t/√ᾱ_t − √(1/ᾱ_t − 1)·ε multiplies the network's ε by up to 8·10⁴ at t = T−1, so the
    /// network's own accepted error (unet_forward's tolerance, the gap between two PyTorch builds' float32 convolutions)
    /// reaches x_0 and everything computed from it magnified by that factor. This returns that propagated error per
    /// element (0 with clipping, which bounds x_0), added to the manifest's tolerance.
    /// </summary>
    static double[] NetworkErrorAllowance(GaussianDiffusion diffusion, IDiffusionNetwork network, Tensor x, Tensor t, bool clip)
    {
        if (clip) return new double[x.numel()];
        var networkTolerance = ReferenceFixtures.ToleranceOf("unet_forward.safetensors");
        var eps = Tolerance.ToDoubles(diffusion.RunNetwork(network, x, t)[.., ..3]);
        var perExample = x.numel() / x.shape[0];
        var steps = t.data<long>().ToArray();
        return eps.Select((e, i) =>
        {
            var step = steps[i / perExample];
            var amplification = diffusion.Tables.SqrtRecipm1AlphasCumprod[step];
            return amplification * (networkTolerance.Abs + networkTolerance.Rel * Math.Abs(e));
        }).ToArray();
    }
}
