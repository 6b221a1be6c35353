using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Diffusion;

/// <summary>training_losses: every mean × variance × loss type on cosine T = 1000, with the tiny U-Nets.</summary>
public sealed class TrainingLossesTests
{
    const string File = "training_losses.safetensors";
    static readonly IReadOnlyDictionary<string, FixtureTensor> Reference = ReferenceFixtures.Tensors(File);

    static readonly Dictionary<string, ModelMeanType> MeanTypes = new()
    {
        ["epsilon"] = ModelMeanType.Epsilon, ["start_x"] = ModelMeanType.StartX, ["previous_x"] = ModelMeanType.PreviousX,
    };
    static readonly Dictionary<string, ModelVarType> VarTypes = new()
    {
        ["fixed_small"] = ModelVarType.FixedSmall, ["fixed_large"] = ModelVarType.FixedLarge,
        ["learned"] = ModelVarType.Learned, ["learned_range"] = ModelVarType.LearnedRange,
    };
    static readonly Dictionary<string, LossType> LossTypes = new()
    {
        ["mse"] = LossType.Mse, ["rescaled_mse"] = LossType.RescaledMse, ["kl"] = LossType.Kl, ["rescaled_kl"] = LossType.RescaledKl,
    };

    /// <summary>Each configuration in the fixture: MEAN/VAR/LOSS/rescale_BOOL.</summary>
    public static TheoryData<string> Configurations()
    {
        var data = new TheoryData<string>();
        foreach (var key in Reference.Keys.Where(k => k.Count(c => c == '/') == 4).Select(k => k[..k.LastIndexOf('/')]).Distinct())
            data.Add(key);
        return data;
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Matches_the_reference(string configuration)
    {
        using var scope = NewDisposeScope();
        var parts = configuration.Split('/');
        var (meanType, varType, lossType) = (MeanTypes[parts[0]], VarTypes[parts[1]], LossTypes[parts[2]]);
        var diffusion = new GaussianDiffusion(BetaSchedules.Cosine(1000), meanType, varType, lossType,
            rescaleTimesteps: parts[3] == "rescale_true");
        var terms = diffusion.TrainingLosses(TinyNetworks.For(varType),
            Reference["x_start"].ToTorch(), Reference["t"].ToTorch(), Reference["noise"].ToTorch());

        var tolerance = ReferenceFixtures.ToleranceOf(File);
        var expected = Reference.Keys.Where(k => k.StartsWith(configuration + "/", StringComparison.Ordinal)).ToList();
        Assert.Contains(configuration + "/loss", expected);
        tolerance.AssertClose(Reference[configuration + "/loss"], terms.Loss, configuration + "/loss");
        Assert.Equal(expected.Contains(configuration + "/mse"), terms.Mse is not null);
        Assert.Equal(expected.Contains(configuration + "/vb"), terms.Vb is not null);
        if (terms.Mse is not null) tolerance.AssertClose(Reference[configuration + "/mse"], terms.Mse, configuration + "/mse");
        if (terms.Vb is not null) tolerance.AssertClose(Reference[configuration + "/vb"], terms.Vb, configuration + "/vb");
    }

    [Fact]
    public void The_hybrid_vb_term_trains_only_the_variance_channels()
    {
        using var scope = NewDisposeScope();
        var diffusion = new GaussianDiffusion(BetaSchedules.Cosine(1000), ModelMeanType.Epsilon, ModelVarType.LearnedRange, LossType.RescaledMse);
        var output = randn(4, 6, 8, 8).requires_grad_();
        var network = DiffusionNetwork.FromFunction((x, t, y) => output);
        var terms = diffusion.TrainingLosses(network, Reference["x_start"].ToTorch(), Reference["t"].ToTorch(), Reference["noise"].ToTorch());
        terms.Vb!.sum().backward();
        var grad = output.grad!;
        Assert.Equal(0f, grad[.., ..3].abs().max().item<float>());
        Assert.True(grad[.., 3..].abs().max().item<float>() > 0);
    }
}
