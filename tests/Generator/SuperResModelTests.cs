using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>
/// The generated super-resolution network (TinySuperRes in Models.cs, declared as super_res.safetensors' SuperResModel)
/// with the reference's weights: its data path (area downsampling, bilinear upsampling), its output, and the diffusion's
/// losses and p_mean_variance conditioned on the low-resolution images, against the reference's numbers.
/// </summary>
public sealed class SuperResModelTests
{
    const string File = "super_res.safetensors";
    static readonly IReadOnlyDictionary<string, FixtureTensor> Reference = ReferenceFixtures.Tensors(File);
    static readonly Tolerance Tolerance = ReferenceFixtures.ToleranceOf(File);

    static TinySuperRes.Network Load(string extension = ".safetensors") =>
        (TinySuperRes.Network)TinySuperRes.Definition.LoadNetwork(ReferenceFixtures.PathOf("super_res_model" + extension), CPU);

    [Fact]
    public void The_declared_model_is_the_fixture_configuration()
    {
        var config = ReferenceFixtures.Json("manifest.json").GetProperty("files").GetProperty(File).GetProperty("config");
        Assert.Equal(config.GetProperty("large").GetInt32(), TinySuperRes.Definition.ImageSize);
        Assert.Equal(config.GetProperty("small").GetInt32(), TinySuperRes.Definition.SmallSize);
        Assert.Equal(config.GetProperty("steps").GetInt32(), TinySuperRes.CreateDiffusion().NumTimesteps);
        Assert.True(TinySuperRes.Definition.SuperResolution);
        Assert.False(TinySigma.Definition.SuperResolution);
    }

    [Fact]
    public void Training_conditioning_is_the_reference_area_downsampling()
    {
        using var scope = NewDisposeScope();
        var lowRes = SuperResNetworkModule.AreaDownsample(Reference["large"].ToTorch(), TinySuperRes.Network.SmallSize);
        Tolerance.AssertClose(Reference["low_res"], lowRes, "low_res");
    }

    [Fact]
    public void The_network_upsamples_as_the_reference_bilinear_interpolation()
    {
        using var scope = NewDisposeScope();
        var upsampled = SuperResNetworkModule.UpsampleBilinear(Reference["low_res"].ToTorch(), TinySuperRes.Network.ImageSize, TinySuperRes.Network.ImageSize);
        Tolerance.AssertClose(Reference["upsampled"], upsampled, "upsampled");
    }

    [Theory]
    [InlineData(".safetensors")]
    [InlineData(".pt")]
    public void The_generated_network_loads_the_reference_weights_and_reproduces_its_output(string extension)
    {
        using var scope = NewDisposeScope();
        using var network = Load(extension);
        using var _ = no_grad();
        var output = network.forward(Reference["x"].ToTorch(), Reference["rescaled_t"].ToTorch(), Reference["low_res"].ToTorch());
        Tolerance.AssertClose(Reference["output"], output, $"output ({extension})");
    }

    [Fact]
    public void Training_losses_conditioned_on_the_low_resolution_images_are_the_reference()
    {
        using var scope = NewDisposeScope();
        using var network = Load();
        using var _ = no_grad();
        var terms = TinySuperRes.CreateDiffusion().TrainingLosses(network.ConditionedOn(Reference["low_res"].ToTorch()),
            Reference["large"].ToTorch(), Reference["t"].ToTorch(), Reference["noise"].ToTorch());
        Tolerance.AssertClose(Reference["loss"], terms.Loss, "loss");
        Tolerance.AssertClose(Reference["mse"], terms.Mse!, "mse");
        Tolerance.AssertClose(Reference["vb"], terms.Vb!, "vb");
    }

    [Fact]
    public void P_mean_variance_conditioned_on_the_low_resolution_images_is_the_reference()
    {
        using var scope = NewDisposeScope();
        using var network = Load();
        using var _ = no_grad();
        var moments = TinySuperRes.CreateDiffusion().PMeanVariance(network.ConditionedOn(Reference["low_res"].ToTorch()),
            Reference["x"].ToTorch(), Reference["t"].ToTorch(), clipDenoised: true);
        Tolerance.AssertClose(Reference["p_mean"], moments.Mean, "p_mean");
        Tolerance.AssertClose(Reference["p_log_variance"], moments.LogVariance, "p_log_variance");
        Tolerance.AssertClose(Reference["pred_xstart"], moments.PredXStart, "pred_xstart");
    }

    [Fact]
    public void The_low_resolution_images_are_required_with_their_shape_named()
    {
        using var scope = NewDisposeScope();
        using var network = TinySuperRes.CreateNetwork();
        var x = zeros(2, 3, 16, 16);
        var t = zeros(2, ScalarType.Int64);
        var unconditioned = Assert.Throws<InvalidOperationException>(() => ((IDiffusionNetwork)network).forward(x, t));
        Assert.Contains("forward(x, timesteps, lowRes, y)", unconditioned.Message, StringComparison.Ordinal);
        var wrongSize = Assert.Throws<ArgumentException>(() => network.forward(x, t, zeros(2, 3, 4, 4)));
        Assert.Contains("[2, 3, 8, 8]", wrongSize.Message, StringComparison.Ordinal);
        Assert.Contains("[2,3,4,4]", wrongSize.Message, StringComparison.Ordinal);
        Assert.Equal([2L, 6, 16, 16], network.forward(x, t, zeros(2, 3, 8, 8)).shape);
    }
}
