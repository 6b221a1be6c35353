extern alias Generators;

using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;
using UNetShape = Generators::ImprovedDdpm.Generators.Model.UNetShape;
using UNetSpec = Generators::ImprovedDdpm.Generators.Model.UNetSpec;

namespace ImprovedDdpm.Tests.Generator;

/// <summary>
/// The generated networks of the paper's configurations (Models.cs) have exactly the reference's state_dict: the same
/// keys in the same order, the same shapes and the same parameter count; the generator's compile-time count agrees.
/// </summary>
public sealed class GeneratedNetworkStructureTests(ITestOutputHelper output)
{
    const string Fixture = "unet_structures.json";

    static readonly Dictionary<string, Type> Models = new()
    {
        ["cifar10"] = typeof(Cifar10Structure),
        ["imagenet64_uncond"] = typeof(ImageNet64UncondStructure),
        ["imagenet64_cond"] = typeof(ImageNet64CondStructure),
        ["cifar10_heads_up1_noscaleshift"] = typeof(Cifar10NoScaleShiftStructure),
    };

    [Fact]
    public void The_fixture_holds_exactly_the_tested_configurations()
    {
        var names = ReferenceFixtures.Json(Fixture).EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
        Assert.Equal(Models.Keys.Order(StringComparer.Ordinal), names);
    }

    [Theory]
    [InlineData("cifar10")]
    [InlineData("imagenet64_uncond")]
    [InlineData("imagenet64_cond")]
    [InlineData("cifar10_heads_up1_noscaleshift")]
    public void The_declared_attributes_are_the_fixture_flags(string configuration)
    {
        var flags = ScriptFlags.Defaults.With(ReferenceFixtures.Json(Fixture).GetProperty(configuration).GetProperty("flags"));
        Assert.Equal(flags, ScriptFlags.Of(Models[configuration]));
    }

    [Theory]
    [InlineData("cifar10")]
    [InlineData("imagenet64_uncond")]
    [InlineData("imagenet64_cond")]
    [InlineData("cifar10_heads_up1_noscaleshift")]
    public void The_network_has_the_reference_state_dict(string configuration)
    {
        var entry = ReferenceFixtures.Json(Fixture).GetProperty(configuration);
        var expected = entry.GetProperty("state_dict").EnumerateArray()
            .Select(item => (Key: item[0].GetString()!, Shape: item[1].EnumerateArray().Select(d => d.GetInt64()).ToArray()))
            .ToList();

        var stopwatch = Stopwatch.StartNew();
        List<(string Key, long[] Shape)> actual;
        long parameterCount;
        var create = Models[configuration].GetMethod("CreateNetwork")!;
        using (no_grad())
        using (var network = (nn.Module)create.Invoke(null, null)!)
        {
            actual = network.state_dict().Select(p => (p.Key, p.Value.shape)).ToList();
            parameterCount = network.parameters().Sum(p => p.numel());
        }
        output.WriteLine($"{configuration}: {parameterCount:N0} parameters, built and checked in {stopwatch.Elapsed.TotalSeconds:F2} s");

        var expectedKeys = expected.Select(e => e.Key).ToList();
        var actualKeys = actual.Select(a => a.Key).ToList();
        Assert.Empty(expectedKeys.Except(actualKeys));
        Assert.Empty(actualKeys.Except(expectedKeys));
        Assert.Equal(expectedKeys, actualKeys);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(expected[i].Shape.SequenceEqual(actual[i].Shape),
                $"{expected[i].Key}: shape [{string.Join(",", actual[i].Shape)}], reference [{string.Join(",", expected[i].Shape)}]");
        Assert.Equal(entry.GetProperty("parameters").GetInt64(), parameterCount);
    }

    [Theory]
    [InlineData("cifar10")]
    [InlineData("imagenet64_uncond")]
    [InlineData("imagenet64_cond")]
    [InlineData("cifar10_heads_up1_noscaleshift")]
    public void The_compile_time_parameter_count_is_the_reference_count(string configuration)
    {
        var entry = ReferenceFixtures.Json(Fixture).GetProperty(configuration);
        var flags = ScriptFlags.Defaults.With(entry.GetProperty("flags"));
        var unet = UNetSpec.Defaults with
        {
            ImageSize = flags.ImageSize, Channels = flags.NumChannels, ResBlocks = flags.NumResBlocks, AttentionResolutions = flags.AttentionResolutions,
            Heads = flags.NumHeads, HeadsUpsample = flags.NumHeadsUpsample, Dropout = flags.Dropout, ClassCond = flags.ClassCond,
            ScaleShiftNorm = flags.UseScaleShiftNorm, Checkpointing = flags.UseCheckpoint,
        };
        Assert.Equal(entry.GetProperty("parameters").GetInt64(), UNetShape.Plan(unet, flags.LearnSigma).ParameterCount);
    }

    /// <summary>The reference's model flags (<c>model_and_diffusion_defaults()</c>), from a fixture or from our attributes.</summary>
    sealed record ScriptFlags(
        int ImageSize, int NumChannels, int NumResBlocks, int NumHeads, int NumHeadsUpsample, string AttentionResolutions,
        double Dropout, bool LearnSigma, bool ClassCond, bool UseCheckpoint, bool UseScaleShiftNorm)
    {
        public static readonly ScriptFlags Defaults = new(
            ImageSize: 64, NumChannels: 128, NumResBlocks: 2, NumHeads: 4, NumHeadsUpsample: -1, AttentionResolutions: "16,8",
            Dropout: 0.0, LearnSigma: false, ClassCond: false, UseCheckpoint: false, UseScaleShiftNorm: true);

        public ScriptFlags With(JsonElement flags)
        {
            var result = this;
            foreach (var flag in flags.EnumerateObject())
            {
                var value = flag.Value;
                result = flag.Name switch
                {
                    "image_size" => result with { ImageSize = value.GetInt32() },
                    "num_channels" => result with { NumChannels = value.GetInt32() },
                    "num_res_blocks" => result with { NumResBlocks = value.GetInt32() },
                    "num_heads" => result with { NumHeads = value.GetInt32() },
                    "num_heads_upsample" => result with { NumHeadsUpsample = value.GetInt32() },
                    "attention_resolutions" => result with { AttentionResolutions = value.GetString()! },
                    "dropout" => result with { Dropout = value.GetDouble() },
                    "learn_sigma" => result with { LearnSigma = value.GetBoolean() },
                    "class_cond" => result with { ClassCond = value.GetBoolean() },
                    "use_checkpoint" => result with { UseCheckpoint = value.GetBoolean() },
                    "use_scale_shift_norm" => result with { UseScaleShiftNorm = value.GetBoolean() },
                    _ => throw new ArgumentException($"unknown model flag {flag.Name}"),
                };
            }
            return result;
        }

        /// <summary>The flags a generated model was declared with, read back from its attributes.</summary>
        public static ScriptFlags Of(Type model)
        {
            var unet = model.GetCustomAttribute<UNetAttribute>()!;
            var diffusion = model.GetCustomAttribute<DiffusionAttribute>()!;
            return new(unet.ImageSize, unet.Channels, unet.ResBlocks, unet.Heads, unet.HeadsUpsample, unet.AttentionResolutions,
                unet.Dropout, diffusion.LearnSigma, unet.ClassCond, unet.Checkpointing, unet.ScaleShiftNorm);
        }
    }
}

/// <summary>
/// The generated super-resolution networks of the reference's configurations (super_res_structures.json, flags from
/// <c>sr_model_and_diffusion_defaults()</c>) have exactly the reference <c>SuperResModel</c>'s state_dict.
/// </summary>
public sealed class GeneratedSuperResStructureTests
{
    const string Fixture = "super_res_structures.json";

    static readonly Dictionary<string, Type> Models = new()
    {
        ["sr_64_to_256"] = typeof(SuperRes64To256Structure),
        ["sr_16_to_64"] = typeof(SuperRes16To64Structure),
    };

    [Fact]
    public void The_fixture_holds_exactly_the_tested_configurations()
    {
        var names = ReferenceFixtures.Json(Fixture).EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
        Assert.Equal(Models.Keys.Order(StringComparer.Ordinal), names);
    }

    [Theory]
    [InlineData("sr_64_to_256")]
    [InlineData("sr_16_to_64")]
    public void The_declared_attributes_are_the_fixture_flags(string configuration)
    {
        var flags = ReferenceFixtures.Json(Fixture).GetProperty(configuration).GetProperty("flags");
        var model = Models[configuration];
        var unet = model.GetCustomAttribute<UNetAttribute>()!;
        var diffusion = model.GetCustomAttribute<DiffusionAttribute>()!;
        var superRes = model.GetCustomAttribute<SuperResAttribute>()!;
        Assert.Equal(flags.GetProperty("large_size").GetInt32(), unet.ImageSize);
        Assert.Equal(flags.GetProperty("small_size").GetInt32(), superRes.SmallSize);
        Assert.Equal(flags.GetProperty("num_channels").GetInt32(), unet.Channels);
        Assert.Equal(flags.GetProperty("num_res_blocks").GetInt32(), unet.ResBlocks);
        Assert.Equal(flags.GetProperty("num_heads").GetInt32(), unet.Heads);
        Assert.Equal(flags.GetProperty("num_heads_upsample").GetInt32(), unet.HeadsUpsample);
        Assert.Equal(flags.GetProperty("attention_resolutions").GetString(), unet.AttentionResolutions);
        Assert.Equal(flags.GetProperty("dropout").GetDouble(), unet.Dropout);
        Assert.Equal(flags.GetProperty("class_cond").GetBoolean(), unet.ClassCond);
        Assert.Equal(flags.GetProperty("use_scale_shift_norm").GetBoolean(), unet.ScaleShiftNorm);
        Assert.Equal(flags.GetProperty("use_checkpoint").GetBoolean(), unet.Checkpointing);
        Assert.Equal(flags.GetProperty("learn_sigma").GetBoolean(), diffusion.LearnSigma);
        Assert.Equal(flags.GetProperty("diffusion_steps").GetInt32(), diffusion.Steps);
        Assert.Equal(flags.GetProperty("noise_schedule").GetString(), diffusion.Schedule.ToString().ToLowerInvariant());
    }

    [Theory]
    [InlineData("sr_64_to_256")]
    [InlineData("sr_16_to_64")]
    public void The_network_has_the_reference_state_dict_and_the_compile_time_count(string configuration)
    {
        var entry = ReferenceFixtures.Json(Fixture).GetProperty(configuration);
        var expectedKeys = entry.GetProperty("keys").EnumerateArray().Select(k => k.GetString()!).ToList();
        var expectedShapes = entry.GetProperty("shapes").EnumerateArray().Select(s => s.EnumerateArray().Select(d => d.GetInt64()).ToArray()).ToList();
        var expectedCount = entry.GetProperty("parameters").GetInt64();

        var create = Models[configuration].GetMethod("CreateNetwork")!;
        List<(string Key, long[] Shape)> actual;
        long parameterCount;
        using (no_grad())
        using (var network = (nn.Module)create.Invoke(null, null)!)
        {
            Assert.IsAssignableFrom<SuperResNetworkModule>(network);
            actual = network.state_dict().Select(p => (p.Key, p.Value.shape)).ToList();
            parameterCount = network.parameters().Sum(p => p.numel());
        }
        Assert.Equal(expectedKeys, actual.Select(a => a.Key).ToList());
        for (var i = 0; i < expectedKeys.Count; i++)
            Assert.True(expectedShapes[i].SequenceEqual(actual[i].Shape),
                $"{expectedKeys[i]}: shape [{string.Join(",", actual[i].Shape)}], reference [{string.Join(",", expectedShapes[i])}]");
        Assert.Equal(expectedCount, parameterCount);
        var definition = (ModelDefinition)Models[configuration].GetProperty("Definition")!.GetValue(null)!;
        Assert.Equal(expectedCount, definition.ParameterCount);
    }
}
