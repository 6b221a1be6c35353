using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>The timestep embedding of unet_forward.safetensors (the networks' outputs are GeneratedModelTests').</summary>
public sealed class TimestepEmbeddingTests
{
    const string Fixture = "unet_forward.safetensors";

    [Theory]
    [InlineData(32)]
    [InlineData(33)]
    public void The_timestep_embedding_matches_the_reference(int dim)
    {
        var tensors = ReferenceFixtures.Tensors(Fixture);
        using var scope = NewDisposeScope();
        var timesteps = tensors["timesteps"].ToTorch();
        var embedding = TimestepEmbedding.Sinusoidal(timesteps, dim);
        Assert.Equal(ScalarType.Float32, embedding.dtype);
        ReferenceFixtures.ToleranceOf(Fixture).AssertClose(tensors[$"timestep_embedding_dim{dim}"], embedding, $"timestep_embedding_dim{dim}");

        // The diffusion passes rescaled (float, possibly fractional) timesteps: integer and float inputs embed alike.
        var fromFloats = TimestepEmbedding.Sinusoidal(timesteps.to(ScalarType.Float32), dim);
        Assert.True(TensorEquality.Identical(fromFloats, embedding));
    }

    [Fact]
    public void Fractional_timesteps_embed_between_their_neighbours()
    {
        using var scope = NewDisposeScope();
        var embedding = TimestepEmbedding.Sinusoidal(tensor(new[] { 2.5f }), 4);
        // half = 2: frequencies 1 and 0.01; cos first, then sin.
        var expected = new[] { Math.Cos(2.5), Math.Cos(0.025), Math.Sin(2.5), Math.Sin(0.025) };
        var actual = Tolerance.ToDoubles(embedding);
        for (var i = 0; i < 4; i++) Assert.Equal(expected[i], actual[i], 1e-6);
    }
}
