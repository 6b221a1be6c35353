using System.Diagnostics;
using System.Text.Json;
using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>
/// The paper's models, assembled from the Runtime blocks with the reference's script flags, have exactly the reference's
/// state_dict: the same keys in the same order, the same shapes and the same parameter count.
/// </summary>
public sealed class UNetStructureTests(ITestOutputHelper output)
{
    const string Fixture = "unet_structures.json";

    static readonly string[] Configurations = ["cifar10", "imagenet64_uncond", "imagenet64_cond", "cifar10_heads_up1_noscaleshift"];

    [Fact]
    public void The_fixture_holds_exactly_the_tested_configurations()
    {
        var names = ReferenceFixtures.Json(Fixture).EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
        Assert.Equal(Configurations.Order(StringComparer.Ordinal), names);
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
        using (no_grad())
        using (var network = ScriptFlags.Defaults.With(entry.GetProperty("flags")).CreateModel())
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

    /// <summary>The reference's model flags (<c>model_and_diffusion_defaults()</c>) and its <c>create_model</c>.</summary>
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

        public ReferenceUNet CreateModel()
        {
            int[] channelMult = ImageSize switch
            {
                256 => [1, 1, 2, 2, 4, 4],
                64 => [1, 2, 3, 4],
                32 => [1, 2, 2, 2],
                _ => throw new ArgumentException($"unsupported image size: {ImageSize}"),
            };
            var attentionRates = AttentionResolutions.Split(',').Select(res => ImageSize / int.Parse(res, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            return new ReferenceUNet(
                inChannels: 3, modelChannels: NumChannels, outChannels: LearnSigma ? 6 : 3, numResBlocks: NumResBlocks,
                attentionResolutions: attentionRates, dropout: Dropout, channelMult: channelMult,
                numClasses: ClassCond ? 1000 : null, useCheckpoint: UseCheckpoint, numHeads: NumHeads,
                numHeadsUpsample: NumHeadsUpsample, useScaleShiftNorm: UseScaleShiftNorm);
        }
    }
}
