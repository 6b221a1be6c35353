using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>
/// The generated members of the models in Models.cs, run: tiny networks loaded from the reference's checkpoints reproduce
/// its outputs, the compile-time schedule constants are the reference's tables, and CreateDiffusion binds them with the
/// types the flags imply.
/// </summary>
public sealed class GeneratedModelTests
{
    const string ForwardFixture = "unet_forward.safetensors";

    [Theory]
    [InlineData("tiny_unet_sigma", ".safetensors", "sigma_output")]
    [InlineData("tiny_unet_fixed", ".safetensors", "fixed_output")]
    [InlineData("tiny_unet_cond", ".safetensors", "cond_output")]
    [InlineData("tiny_unet_sigma", ".pt", "sigma_output")]
    [InlineData("tiny_unet_cond", ".pt", "cond_output")]
    public void A_generated_tiny_network_loads_the_reference_checkpoint_and_reproduces_its_output(string network, string extension, string output)
    {
        var tensors = ReferenceFixtures.Tensors(ForwardFixture);
        using var scope = NewDisposeScope();
        using var model = TinyFixtureNetworks.Load(network, extension);
        using var _ = no_grad();
        var labels = network == "tiny_unet_cond" ? tensors["y"].ToTorch() : null;
        var actual = ((IDiffusionNetwork)model).forward(tensors["x"].ToTorch(), tensors["timesteps"].ToTorch(), labels);
        ReferenceFixtures.ToleranceOf(ForwardFixture).AssertClose(tensors[output], actual, $"{output} (generated, {network}{extension})");
    }

    [Fact]
    public void A_checkpoint_of_another_configuration_is_refused_naming_the_first_mismatch()
    {
        // tiny_unet_fixed predicts 3 channels; TinySigma's output layer has 6.
        using var sigma = TinySigma.CreateNetwork();
        var shape = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.LoadStateDict(sigma, ReferenceFixtures.PathOf("tiny_unet_fixed.safetensors")));
        Assert.Contains("out.2.weight", shape.Message, StringComparison.Ordinal);
        Assert.Contains("tiny_unet_fixed.safetensors", shape.Message, StringComparison.Ordinal);

        // tiny_unet_cond has a class embedding TinySigma lacks.
        var unexpected = Assert.Throws<CheckpointMismatchException>(() => Checkpoint.LoadStateDict(sigma, ReferenceFixtures.PathOf("tiny_unet_cond.pt")));
        Assert.Contains("label_emb.weight", unexpected.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Labels_are_required_exactly_by_the_class_conditional_network()
    {
        using var scope = NewDisposeScope();
        using var conditional = TinyCond.CreateNetwork();
        using var unconditional = TinyFixed.CreateNetwork();
        var x = zeros(2, 3, 8, 8);
        var t = zeros(2, ScalarType.Int64);
        Assert.Throws<ArgumentNullException>(() => conditional.forward(x, t));
        Assert.Throws<ArgumentException>(() => unconditional.forward(x, t, zeros(2, ScalarType.Int64)));
        var wrongSize = Assert.Throws<ArgumentException>(() => unconditional.forward(zeros(2, 3, 7, 7), t));
        Assert.Contains("multiples of 2", wrongSize.Message, StringComparison.Ordinal);
        Assert.Equal([2L, 6, 8, 8], conditional.forward(x, t, zeros(2, ScalarType.Int64)).shape);
    }

    public static TheoryData<string, int> Schedules => new()
    {
        { "linear", 1000 }, { "linear", 4000 }, { "cosine", 1000 }, { "cosine", 4000 },
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void The_schedule_constants_are_the_reference_tables_and_bit_identical_to_the_runtime(string name, int steps)
    {
        var generated = (name, steps) switch
        {
            ("linear", 1000) => Cifar10NoScaleShiftStructure.Schedule.ToTables(),
            ("linear", 4000) => ImageNet64UncondStructure.Schedule.ToTables(),
            ("cosine", 1000) => ImageNet64CondStructure.Schedule.ToTables(),
            _ => Cifar10Structure.Schedule.ToTables(),
        };
        ScheduleTables.AssertMatchesReference($"schedule_{name}_{steps}.safetensors", generated);

        var runtime = new DiffusionTables(BetaSchedules.Create(name == "linear" ? NoiseSchedule.Linear : NoiseSchedule.Cosine, steps));
        foreach (var ((key, ours), (_, theirs)) in ScheduleTables.ByReferenceName(generated).Zip(ScheduleTables.ByReferenceName(runtime)))
            Assert.True(ours.SequenceEqual(theirs), $"{key}: a compile-time constant differs from the run-time value");
    }

    [Fact]
    public void CreateDiffusion_derives_the_types_from_the_flags_as_the_reference_does()
    {
        var hybrid = Cifar10Structure.CreateDiffusion();
        Assert.Equal((ModelMeanType.Epsilon, ModelVarType.LearnedRange, LossType.RescaledMse, true), (hybrid.MeanType, hybrid.VarType, hybrid.LossType, hybrid.RescaleTimesteps));
        Assert.Equal(4000, hybrid.NumTimesteps);
        Assert.Equal(Cifar10Structure.Schedule.AlphasCumprod.ToArray(), hybrid.Tables.AlphasCumprod);

        var fixedLarge = TinyFixed.CreateDiffusion();
        Assert.Equal((ModelVarType.FixedLarge, LossType.RescaledMse), (fixedLarge.VarType, fixedLarge.LossType));
    }

    [Fact]
    public void CreateDiffusion_respaces_at_run_time_with_the_same_rules()
    {
        var respaced = Cifar10Structure.CreateDiffusion("ddim50");
        Assert.Equal(50, respaced.NumTimesteps);
        Assert.Equal(4000, respaced.OriginalNumTimesteps);
        Assert.Equal(TimestepRespacing.SpaceTimesteps(4000, "ddim50"), respaced.TimestepMap);
        var error = Assert.Throws<ArgumentException>(() => Cifar10Structure.CreateDiffusion("ddim3000"));
        Assert.Contains("exactly 3000 steps", error.Message, StringComparison.Ordinal);
    }
}
