using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>Properties of the blocks that the fixtures' perturbed weights do not show: initial values and dtypes.</summary>
public sealed class NetworkBlockTests
{
    [Fact]
    public void A_fresh_res_block_returns_its_skip_connection()
    {
        using var scope = NewDisposeScope();
        using var block = new ResBlock(32, 128, 0.1, outChannels: 64, useScaleShiftNorm: true);
        block.eval();
        var x = randn(2, 32, 4, 4);
        var emb = randn(2, 128);

        Assert.True(TensorEquality.Identical(block.forward(x, emb), block.skip_connection!.forward(x)));
        Assert.Equal(
            ["in_layers.0.weight", "in_layers.0.bias", "in_layers.2.weight", "in_layers.2.bias", "emb_layers.1.weight",
             "emb_layers.1.bias", "out_layers.0.weight", "out_layers.0.bias", "out_layers.3.weight", "out_layers.3.bias",
             "skip_connection.weight", "skip_connection.bias"],
            block.state_dict().Keys);
        Assert.Equal([128L, 128L], block.state_dict()["emb_layers.1.weight"].shape);
    }

    [Theory]
    [InlineData(false, 32)]
    [InlineData(true, 32)]
    [InlineData(true, 64)]
    public void A_res_block_without_a_graph_gives_what_it_gives_with_one(bool scaleShift, long outChannels)
    {
        using var scope = NewDisposeScope();
        using var block = new ResBlock(32, 128, 0.1, outChannels: outChannels, useScaleShiftNorm: scaleShift);
        block.eval();
        using (no_grad())
        {
            foreach (var p in block.parameters()) p.copy_(randn_like(p).Times(0.3)); // the zeroed output conv too
        }
        var x = randn(2, 32, 4, 4);
        var emb = randn(2, 128);
        var input = x.clone();

        var withGraph = block.forward(x, emb);
        Tensor withoutGraph;
        using (no_grad()) withoutGraph = block.forward(x, emb);

        Assert.True(withGraph.requires_grad);
        Assert.True(TensorEquality.Identical(withoutGraph, withGraph.detach()));
        Assert.True(TensorEquality.Identical(x, input)); // the in-place sums never touch the block's input
    }

    [Fact]
    public void A_fresh_attention_block_is_the_identity()
    {
        using var scope = NewDisposeScope();
        using var block = new AttentionBlock(64, numHeads: 4);
        var x = randn(2, 64, 4, 4);

        Assert.True(TensorEquality.Identical(block.forward(x), x));
    }

    [Fact]
    public void A_fresh_network_outputs_zeros()
    {
        using var scope = NewDisposeScope();
        using var network = Generator.TinyCond.CreateNetwork();

        var output = network.forward(randn(2, 3, 8, 8), tensor(new[] { 3.5f, 999f }), tensor(new long[] { 1, 7 }));

        Assert.Equal([2L, 6, 8, 8], output.shape);
        Assert.Equal(0.0, output.abs().max().item<float>());
    }

    [Fact]
    public void Dropout_follows_train_and_eval_through_every_container()
    {
        var inputs = ReferenceFixtures.Tensors("unet_forward.safetensors");
        using var scope = NewDisposeScope();
        using var network = Generator.TinyDropout.CreateNetwork();
        Checkpoint.LoadStateDict(network, ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors"));
        using var _ = no_grad();
        var x = inputs["x"].ToTorch();
        var t = inputs["timesteps"].ToTorch();

        network.eval();
        var evaluated = network.forward(x, t);
        ReferenceFixtures.ToleranceOf("unet_forward.safetensors").AssertClose(inputs["sigma_output"], evaluated, "sigma_output (dropout 0.5, eval)");
        network.train();
        Assert.False(TensorEquality.Identical(network.forward(x, t), evaluated));
    }

    [Fact]
    public void A_network_built_inside_a_dispose_scope_outlives_it()
    {
        var inputs = ReferenceFixtures.Tensors("unet_forward.safetensors");
        Generator.TinySigma.Network network;
        using (NewDisposeScope()) network = (Generator.TinySigma.Network)TinyFixtureNetworks.Load("tiny_unet_sigma");
        using (network)
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            Assert.All(network.parameters(), p => Assert.False(p.IsInvalid));
            var output = network.forward(inputs["x"].ToTorch(), inputs["timesteps"].ToTorch());
            ReferenceFixtures.ToleranceOf("unet_forward.safetensors").AssertClose(inputs["sigma_output"], output, "sigma_output (built in a closed scope)");
        }
    }

    [Fact]
    public void Group_norm_computes_in_float32_and_returns_the_input_dtype()
    {
        using var scope = NewDisposeScope();
        using var norm = new GroupNorm32(64);
        var x = randn(2, 64, 3, 3, dtype: ScalarType.Float64);

        var y = norm.forward(x);

        Assert.Equal(ScalarType.Float64, y.dtype);
        Assert.True(TensorEquality.Identical(y, norm.forward(x.to(ScalarType.Float32)).to(ScalarType.Float64)));
    }

    [Fact]
    public void Resampling_halves_and_doubles_the_spatial_size()
    {
        using var scope = NewDisposeScope();
        using var convDown = new Downsample(32, useConv: true);
        using var poolDown = new Downsample(32, useConv: false);
        using var convUp = new Upsample(32, useConv: true);
        using var plainUp = new Upsample(32, useConv: false);
        var x = arange(2 * 32 * 4 * 4, dtype: ScalarType.Float32).reshape(2, 32, 4, 4);

        Assert.Equal([2L, 32, 2, 2], convDown.forward(x).shape);
        Assert.Equal(["op.weight", "op.bias"], convDown.state_dict().Keys);
        Assert.Empty(poolDown.state_dict());
        Assert.Equal((0.0 + 1 + 4 + 5) / 4, poolDown.forward(x)[0, 0, 0, 0].item<float>());
        Assert.Equal([2L, 32, 8, 8], convUp.forward(x).shape);
        Assert.Equal(["conv.weight", "conv.bias"], convUp.state_dict().Keys);
        var doubled = plainUp.forward(x);
        Assert.True(TensorEquality.Identical(doubled[.., .., 0..2, 0..2], x[.., .., 0..1, 0..1].expand(2, 32, 2, 2)));
    }

    [Fact]
    public void Blocks_refuse_inputs_with_the_wrong_channel_count()
    {
        using var scope = NewDisposeScope();
        using var block = new ResBlock(32, 128, 0);
        var error = Assert.Throws<ArgumentException>(() => block.forward(zeros(1, 64, 4, 4), zeros(1, 128)));
        Assert.Contains("ResBlock expects [N, 32, …]", error.Message);
    }
}
