using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Diffusion;

/// <summary>bits_per_dim: calc_bpd_loop over cosine T = 50 with the reference's q_sample noise per t.</summary>
public sealed class BitsPerDimTests
{
    const string File = "bits_per_dim.safetensors";

    [Fact]
    public void The_bound_and_its_terms_match_the_reference()
    {
        using var scope = NewDisposeScope();
        var reference = ReferenceFixtures.Tensors(File);
        var tolerance = ReferenceFixtures.ToleranceOf(File);
        var diffusion = new GaussianDiffusion(BetaSchedules.Cosine(50), ModelMeanType.Epsilon, ModelVarType.LearnedRange, LossType.RescaledMse);
        var draws = new ReplayNoiseSource(reference["draws"].ToTorch().unbind(0));

        var terms = diffusion.CalcBpdLoop(TinyNetworks.Sigma, reference["x_start"].ToTorch(), draws, clipDenoised: true);

        Assert.Equal(0, draws.Remaining);
        tolerance.AssertClose(reference["total_bpd"], terms.TotalBpd, "total_bpd");
        tolerance.AssertClose(reference["prior_bpd"], terms.PriorBpd, "prior_bpd");
        tolerance.AssertClose(reference["vb"], terms.Vb, "vb");
        tolerance.AssertClose(reference["xstart_mse"], terms.XStartMse, "xstart_mse");
        tolerance.AssertClose(reference["mse"], terms.Mse, "mse");
        // Column 0 is t = T − 1 (a tiny KL), the last column the decoder NLL at t = 0 (bits, far larger).
        Assert.True(terms.Vb[0, -1].item<float>() > 100 * terms.Vb[0, 0].item<float>());
    }
}
