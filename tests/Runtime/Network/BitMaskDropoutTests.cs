using ImprovedDdpm.Tests.Support;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>
/// The res blocks' dropout: PyTorch's values (zero, or the input times float32(1)/float32(1 − p)), a mask of the right
/// density that follows the global generator, the same mask in backward, and the same results from the vectorised and
/// the scalar kernels.
/// </summary>
/// <remarks>In the global-random-state collection: the seed of each mask is a draw from the process-wide generator.</remarks>
[Collection(GlobalRandomState.Name)]
public sealed class BitMaskDropoutTests
{
    [Theory]
    [InlineData(0.3)]
    [InlineData(0.1)]
    [InlineData(0.5)]
    public void Kept_values_are_scaled_as_pytorch_does_and_the_rest_are_zero(double p)
    {
        using var scope = NewDisposeScope();
        using var dropout = new BitMaskDropout(p);
        dropout.train();
        var x = rand(4, 8, 32, 32).Plus(0.5); // no zeros of its own
        var output = dropout.call(x);

        // PyTorch's dropout: noise = bernoulli(1 − p), noise.div_(1 − p), input · noise.
        using var one = ones(1);
        var scale = one.div((float)(1 - p));
        var kept = output.ne(TensorArithmetic.Zero);
        Assert.True(TensorEquality.Identical(output, where(kept, x * scale, zeros_like(x))));
        // The fraction dropped is p within six standard deviations of a binomial count.
        var count = x.numel();
        var dropped = count - kept.sum().item<long>();
        var sigma = Math.Sqrt(count * p * (1 - p));
        Assert.InRange(dropped, count * p - 6 * sigma, count * p + 6 * sigma);
    }

    [Fact]
    public void The_mask_follows_the_global_generator_and_evaluation_passes_the_input_through()
    {
        using var scope = NewDisposeScope();
        using var dropout = new BitMaskDropout(0.3);
        dropout.train();
        var x = rand(3, 5, 7, 11).Plus(0.5); // 1155 values: the last 16-value word is partial
        manual_seed(7);
        var first = dropout.call(x);
        var next = dropout.call(x);
        manual_seed(7);
        var again = dropout.call(x);

        Assert.True(TensorEquality.Identical(first, again));
        Assert.False(TensorEquality.Identical(first, next));
        dropout.eval();
        Assert.True(TensorEquality.Identical(dropout.call(x), x));
    }

    [Fact]
    public void Backward_applies_the_forward_mask_and_scale()
    {
        using var scope = NewDisposeScope();
        using var dropout = new BitMaskDropout(0.3);
        dropout.train();
        var x = rand(2, 16, 9, 9).Plus(0.5).requires_grad_(true);
        var upstream = randn(2, 16, 9, 9);
        var output = dropout.call(x);
        (output * upstream).sum().backward();

        using var one = ones(1);
        var scale = one.div(0.7f);
        var expected = where(output.detach().ne(TensorArithmetic.Zero), upstream * scale, zeros_like(upstream));
        Assert.True(TensorEquality.Identical(x.grad!, expected));
    }

    [Fact]
    public void A_non_contiguous_input_gives_the_values_of_its_contiguous_copy()
    {
        using var scope = NewDisposeScope();
        using var dropout = new BitMaskDropout(0.3);
        dropout.train();
        var x = rand(4, 6, 10, 10).Plus(0.5).transpose(1, 3);
        manual_seed(3);
        var fromView = dropout.call(x);
        manual_seed(3);
        var fromCopy = dropout.call(x.contiguous());
        Assert.True(TensorEquality.Identical(fromView, fromCopy));
    }

    [Fact]
    public void The_scalar_kernels_give_the_vectorised_masks()
    {
        using var scope = NewDisposeScope();
        using var dropout = new BitMaskDropout(0.3);
        dropout.train();
        var x = rand(120_007).Plus(0.5); // a partial last word
        try
        {
            manual_seed(11);
            var vectorised = dropout.call(x);
            DropoutMask.ForceScalar = true;
            manual_seed(11);
            var scalar = dropout.call(x);

            Assert.True(TensorEquality.Identical(vectorised, scalar));
        }
        finally
        {
            DropoutMask.ForceScalar = false;
        }
    }
}
