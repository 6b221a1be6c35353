using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>
/// <c>[UNet(Checkpointing = true)]</c>: the same losses and gradients as the plain network, dropout included, with the
/// blocks' activations left out of the autograd graph and recomputed in backward.
/// </summary>
/// <remarks>In the global-random-state collection: dropout draws from the process-wide generator, so a test creating a
/// network in parallel would change the masks of one run and not the other's.</remarks>
[Collection(GlobalRandomState.Name)]
public sealed class GradientCheckpointTests
{
    /// <summary>
    /// The whole network in a training step (the hybrid loss, every term), with dropout active and not.
    /// </summary>
    /// <remarks>
    /// The loss is identical to the bit. Gradients are identical up to the order of float32 additions: where a tensor
    /// feeds three or more consumers (the timestep embedding feeds every res block; a res block's input feeds its two
    /// paths and, in the down path, a skip connection), the plain network adds the contributions in the engine's order,
    /// while a checkpointed block first adds its own. Addition is not associative, so such sums differ by a few units in
    /// the last place (u = 2⁻²⁴), which backward then carries along. Allowed per element of parameter p:
    /// |Δ| ≤ 64u·max|g_p| + 8u·max over the network |g|, the second term for the conv biases before a one-channel-per-
    /// group norm (32 channels), whose gradient is zero but for rounding. Measured here: at most 11u·max|g_p|, and 3.9e-9 on those
    /// biases (allowed 3.6e-8). A mask not replayed, or a gradient missing, is off by the gradient's own size.
    /// </remarks>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_checkpointed_network_has_the_plain_networks_loss_and_gradients(bool dropoutActive)
    {
        var plain = TrainingStep(TinyDropout.Definition, dropoutActive);
        var checkpointed = TrainingStep(TinyCheckpointed.Definition, dropoutActive);
        try
        {
            Assert.Equal(plain.Loss, checkpointed.Loss);
            Assert.Equal(plain.Gradients.Keys, checkpointed.Gradients.Keys);
            const double u = 1.0 / (1 << 24);
            var networkScale = plain.Gradients.Values.Max(g => g.abs().max().item<float>());
            foreach (var (name, gradient) in plain.Gradients)
            {
                var scale = gradient.abs().max().item<float>();
                var allowed = 64 * u * scale + 8 * u * networkScale;
                var error = (checkpointed.Gradients[name] - gradient).abs().max().item<float>();
                Assert.True(error <= allowed, $"gradient of {name}: off by {error:G3}, allowed {allowed:G3} (largest element {scale:G3})");
            }
            // Every weight's gradient is far above the allowance, so none can be lost or garbled unseen. (Not every bias':
            // a conv bias before a one-channel-per-group norm has a zero gradient.)
            Assert.All(plain.Gradients.Where(g => g.Key.EndsWith(".weight", StringComparison.Ordinal)),
                g => Assert.True(g.Value.abs().max().item<float>() > 1e3 * 8 * u * networkScale, g.Key));
            // The replay restores the generator: later draws continue exactly as without checkpointing.
            Assert.True(TensorEquality.Identical(checkpointed.RandomStateAfter, plain.RandomStateAfter));
        }
        finally
        {
            plain.Dispose();
            checkpointed.Dispose();
        }
    }

    [Fact]
    public void A_checkpointed_res_block_gives_the_plain_gradients_to_the_bit_dropout_masks_included()
    {
        using var scope = NewDisposeScope();
        using var block = new ResBlock(32, 64, 0.5, outChannels: 64, useScaleShiftNorm: true);
        using (no_grad())
        {
            foreach (var p in block.parameters()) p.copy_(randn_like(p));
        }
        block.train();
        var x = randn(2, 32, 4, 4);
        var emb = randn(2, 64);
        var weights = randn(2, 64, 4, 4);

        var (plainOutput, plainGradients) = Gradients(block, [x, emb], inputs => block.forward(inputs[0], inputs[1]), weights);
        block.UseCheckpoint = true;
        var (output, gradients) = Gradients(block, [x, emb], inputs => block.forward(inputs[0], inputs[1]), weights);

        Assert.True(TensorEquality.Identical(output, plainOutput));
        Assert.Equal(plainGradients.Length, gradients.Length);
        for (var i = 0; i < gradients.Length; i++) Assert.True(TensorEquality.Identical(gradients[i], plainGradients[i]), $"gradient {i}");
    }

    [Fact]
    public void Dropout_masks_differ_between_draws_so_the_bit_equality_above_needs_the_replay()
    {
        using var scope = NewDisposeScope();
        using var network = Load(TinyCheckpointed.Definition);
        network.train();
        var (x, t) = Inputs();
        var first = network.forward(x, t);
        var second = network.forward(x, t);
        Assert.False(TensorEquality.Identical(first, second));
    }

    [Fact]
    public void A_checkpointed_block_records_no_activations_and_recomputes_them_in_backward()
    {
        using var scope = NewDisposeScope();
        using var block = new ResBlock(32, 64, 0.5, outChannels: 64, useScaleShiftNorm: true, useCheckpoint: true);
        var recorded = new List<bool>();
        block.in_layers.register_forward_hook((_, _, output) =>
        {
            recorded.Add(output.requires_grad);
            return output;
        });
        var x = randn(2, 32, 4, 4).requires_grad_();
        var emb = randn(2, 64).requires_grad_();

        var output = block.forward(x, emb);
        Assert.True(output.requires_grad);
        Assert.Equal([false], recorded); // run under no_grad: nothing inside the block is kept for backward

        output.sum().backward();
        Assert.Equal([false, true], recorded); // recomputed once, with a graph, in backward
        Assert.NotNull(x.grad);
        Assert.NotNull(emb.grad);
        Assert.All(block.parameters(), p => Assert.NotNull(p.grad));

        recorded.Clear();
        using (no_grad()) block.forward(x, emb);
        Assert.Equal([false], recorded); // sampling: one plain forward, nothing else
    }

    [Fact]
    public void A_checkpointed_attention_block_gives_the_plain_gradients()
    {
        using var scope = NewDisposeScope();
        using var block = new AttentionBlock(64, numHeads: 2);
        using (no_grad())
        {
            foreach (var p in block.parameters()) p.copy_(randn_like(p));
        }
        var x = randn(2, 64, 4, 4);
        var weights = randn(2, 64, 4, 4);

        var (plainOutput, plainGradients) = Gradients(block, [x], inputs => block.forward(inputs[0]), weights);
        block.UseCheckpoint = true;
        var (output, gradients) = Gradients(block, [x], inputs => block.forward(inputs[0]), weights);

        Assert.True(TensorEquality.Identical(output, plainOutput));
        Assert.Equal(plainGradients.Length, gradients.Length);
        for (var i = 0; i < gradients.Length; i++) Assert.True(TensorEquality.Identical(gradients[i], plainGradients[i]), $"gradient {i}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_up_path_res_block_on_h_and_skip_gives_what_it_gives_on_their_concatenation(bool checkpointed)
    {
        using var scope = NewDisposeScope();
        using var block = new ResBlock(96, 64, 0.5, outChannels: 32, useCheckpoint: checkpointed);
        block.train();
        var (h, skip, emb) = (randn(2, 64, 4, 4), randn(2, 32, 4, 4), randn(2, 64));
        var weights = randn(2, 32, 4, 4);

        var (expected, expectedGradients) = Gradients(block, [h, skip, emb], inputs => block.forward(cat([inputs[0], inputs[1]], 1), inputs[2]), weights);
        var (output, gradients) = Gradients(block, [h, skip, emb], inputs => block.ForwardConcat(inputs[0], inputs[1], inputs[2]), weights);

        Assert.True(TensorEquality.Identical(output, expected));
        Assert.Equal(expectedGradients.Length, gradients.Length);
        for (var i = 0; i < gradients.Length; i++) Assert.True(TensorEquality.Identical(gradients[i], expectedGradients[i]), $"gradient {i}");
        Assert.Throws<ArgumentException>(() => block.ForwardConcat(h, h, emb));
    }

    [Fact]
    public void A_step_of_checkpointed_blocks_is_one_checkpoint_each_block_recomputed_once()
    {
        using var scope = NewDisposeScope();
        var res = new ResBlock(64, 64, 0.5, useCheckpoint: true);
        var attention = new AttentionBlock(64, numHeads: 2, useCheckpoint: true);
        using var step = new TimestepEmbedSequential(res, attention, new Upsample(64, useConv: true));
        step.train();
        var recorded = new List<string>();
        res.in_layers.register_forward_hook((_, _, output) =>
        {
            recorded.Add($"res {output.requires_grad}");
            return output;
        });
        attention.norm.register_forward_hook((_, _, output) =>
        {
            recorded.Add($"attention {output.requires_grad}");
            return output;
        });
        var x = randn(2, 64, 4, 4).requires_grad_();
        var emb = randn(2, 64);

        var output = step.forward(x, emb);
        Assert.Equal(["res False", "attention False"], recorded); // no graph inside the step
        output.sum().backward();
        Assert.Equal(["res False", "attention False", "res True", "attention True"], recorded); // once each, with a graph

        // The same gradients as the blocks checkpointed one by one, and as no checkpointing (dropout masks replayed).
        var weights = randn(output.shape);
        var (unitOutput, unitGradients) = Gradients(step, [x], inputs => step.forward(inputs[0], emb), weights);
        attention.UseCheckpoint = false; // the step is no longer one unit: the res block checkpoints on its own
        var (blockOutput, blockGradients) = Gradients(step, [x], inputs => step.forward(inputs[0], emb), weights);
        res.UseCheckpoint = false;
        var (plainOutput, plainGradients) = Gradients(step, [x], inputs => step.forward(inputs[0], emb), weights);
        Assert.True(TensorEquality.Identical(unitOutput, plainOutput));
        Assert.True(TensorEquality.Identical(blockOutput, plainOutput));
        for (var i = 0; i < plainGradients.Length; i++)
        {
            Assert.True(TensorEquality.Identical(unitGradients[i], plainGradients[i]), $"gradient {i}, one checkpoint");
            Assert.True(TensorEquality.Identical(blockGradients[i], plainGradients[i]), $"gradient {i}, res block checkpointed");
        }
    }

    [Fact]
    public void An_up_step_replaces_h_with_its_output_and_disposes_the_old_one()
    {
        using var scope = NewDisposeScope();
        using var step = new TimestepEmbedSequential(new ResBlock(96, 64, 0, outChannels: 32, useCheckpoint: true));
        var h = randn(2, 64, 4, 4).requires_grad_();
        var old = h;
        var skip = randn(2, 32, 4, 4);
        var emb = randn(2, 64);
        var expected = step.forward(cat([h, skip], 1), emb);

        step.ForwardUp(ref h, skip, emb);

        Assert.True(old.IsInvalid);
        Assert.True(TensorEquality.Identical(h, expected));
        h.sum().backward(); // what the checkpoint saved outlives the disposed handle
        Assert.All(step.parameters(), p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void Inputs_that_need_no_gradient_get_none_and_the_parameters_still_get_theirs()
    {
        using var scope = NewDisposeScope();
        using var block = new ResBlock(32, 64, 0, useCheckpoint: true);
        var x = randn(2, 32, 4, 4);
        var emb = randn(2, 64);

        block.forward(x, emb).sum().backward();

        Assert.Null(x.grad);
        Assert.Null(emb.grad);
        Assert.All(block.parameters(), p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void SetEnabled_switches_every_res_and_attention_block_of_a_generated_network()
    {
        using var network = TinySigma.CreateNetwork();
        var blocks = network.modules().Where(m => m is ResBlock or AttentionBlock).ToList();

        Assert.Equal(12, GradientCheckpoint.SetEnabled(network, true));
        Assert.Equal(12, blocks.Count);
        Assert.All(blocks, b => Assert.True(b is ResBlock r ? r.UseCheckpoint : ((AttentionBlock)b).UseCheckpoint));
        GradientCheckpoint.SetEnabled(network, false);
        Assert.All(blocks, b => Assert.False(b is ResBlock r ? r.UseCheckpoint : ((AttentionBlock)b).UseCheckpoint));
        using var checkpointed = TinyCheckpointed.CreateNetwork();
        Assert.All(checkpointed.modules().OfType<ResBlock>(), b => Assert.True(b.UseCheckpoint));
    }

    [Fact]
    public void Backward_frees_the_saved_inputs_so_a_second_backward_through_the_graph_fails_cleanly()
    {
        Assert.True(GradientCheckpoint.ReleasesSavedInputs, "TorchSharp's AutogradContext internals changed: saved inputs now live until the graph is freed");
        using var scope = NewDisposeScope();
        using var block = new ResBlock(32, 64, 0, useCheckpoint: true);
        var x = randn(2, 32, 4, 4).requires_grad_();
        var loss = block.forward(x, randn(2, 64)).sum();

        loss.backward(retain_graph: true);
        Assert.ThrowsAny<Exception>(() => loss.backward(retain_graph: true));
    }

    [Fact]
    public void A_failing_recomputation_fails_backward_with_an_exception_instead_of_aborting_the_process()
    {
        using var scope = NewDisposeScope();
        var weight = new Parameter(randn(3));
        var calls = 0;
        var x = randn(3).requires_grad_();
        var output = GradientCheckpoint.Run(inputs =>
        {
            if (++calls == 2) throw new InvalidOperationException("recomputation refused");
            return inputs[0] * weight;
        }, [x], [weight]);

        Assert.ThrowsAny<Exception>(() => output.sum().backward());
        Assert.Equal("recomputation refused", GradientCheckpoint.LastBackwardFailure?.Message);
    }

    /// <summary>The output and the gradients of Σ output·weights w.r.t. the inputs and the parameters, from a fixed seed.</summary>
    static (Tensor Output, Tensor[] Gradients) Gradients(nn.Module block, Tensor[] inputs, Func<Tensor[], Tensor> forward, Tensor weights)
    {
        var leaves = inputs.Select(x => x.detach().requires_grad_()).ToArray();
        foreach (var p in block.parameters()) p.grad = null;
        using (random.manual_seed(99)) { }
        var output = forward(leaves);
        (output * weights).sum().backward();
        return (output.detach(), [.. leaves.Select(x => x.grad!.clone()), .. block.parameters().Select(p => p.grad!.clone())]);
    }

    sealed record StepResult(double Loss, Dictionary<string, Tensor> Gradients, Tensor RandomStateAfter) : IDisposable
    {
        public void Dispose()
        {
            foreach (var g in Gradients.Values) g.Dispose();
            RandomStateAfter.Dispose();
        }
    }

    /// <summary>A training step's loss (the hybrid loss, every term) and gradients, from a fixed seed.</summary>
    static StepResult TrainingStep(ModelDefinition model, bool dropoutActive)
    {
        using var network = Load(model);
        if (dropoutActive) network.train();
        else network.eval();
        var diffusion = model.CreateDiffusion(null);
        using var scope = NewDisposeScope();
        var (x, t) = Inputs();
        var noise = randn(x.shape, generator: new TorchSharp.torch.Generator(7));
        using (random.manual_seed(1234)) { }
        var loss = diffusion.TrainingLosses(network, x, t, noise).Loss.mean();
        loss.backward();
        var gradients = network.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone().DetachFromDisposeScope());
        using var generator = TorchSharp.torch.Generator.Default;
        return new StepResult(loss.item<float>(), gradients, generator.get_state().DetachFromDisposeScope());
    }

    static DiffusionNetworkModule Load(ModelDefinition model) =>
        model.LoadNetwork(ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors"), CPU);

    static (Tensor X, Tensor T) Inputs()
    {
        var inputs = ReferenceFixtures.Tensors("unet_forward.safetensors");
        return (inputs["x"].ToTorch(), tensor(new long[] { 0, 3, 6, 9 }));
    }
}
