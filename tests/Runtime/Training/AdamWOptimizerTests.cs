using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Training;

/// <summary>
/// <see cref="AdamWOptimizer"/> against TorchSharp's <c>optim.AdamW</c>, whose step is PyTorch's single-tensor AdamW
/// operation for operation: the same parameters, gradients and learning rates give the same bits.
/// </summary>
public sealed class AdamWOptimizerTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.05)]
    public void Every_step_equals_PyTorchs_AdamW_bit_for_bit(double weightDecay)
    {
        using var generator = new TorchSharp.torch.Generator(17);
        var shapes = new long[][] { [4, 3, 3, 3], [4], [7, 5], [1] };
        var ours = shapes.Select(s => new Parameter(randn(s, generator: generator))).ToList();
        var theirs = ours.Select(p => new Parameter(p.detach().clone())).ToList();
        using var optimizer = new AdamWOptimizer(ours, lr: 1e-3, weightDecay: weightDecay);
        using var reference = optim.AdamW(theirs, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: weightDecay);

        for (var step = 0; step < 6; step++)
        {
            // An annealed learning rate, as the train loop sets it before each step; the last parameter takes no
            // gradient in odd steps (PyTorch skips it and its step count stays behind).
            var lr = 1e-3 * (1 - step / 8.0);
            optimizer.LearningRate = lr;
            foreach (var group in reference.ParamGroups) group.LearningRate = lr;
            for (var i = 0; i < ours.Count; i++)
            {
                var skip = i == ours.Count - 1 && step % 2 == 1;
                var gradient = skip ? null : randn(shapes[i], generator: generator) * 10;
                ours[i].grad = gradient?.clone();
                theirs[i].grad = gradient?.clone();
            }
            optimizer.Step();
            reference.step();
            for (var i = 0; i < ours.Count; i++)
                Assert.Equal(Values(theirs[i]), Values(ours[i]));
        }

        var states = reference.state_dict().State.Cast<AdamW.State>().ToList();
        for (var i = 0; i < ours.Count; i++)
        {
            Assert.Equal(states[i].step, optimizer.States[i].Step);
            Assert.Equal(Values(states[i].exp_avg), Values(optimizer.States[i].ExpAvg));
            Assert.Equal(Values(states[i].exp_avg_sq), Values(optimizer.States[i].ExpAvgSq));
        }
        Assert.Equal(3, optimizer.States[^1].Step);
    }

    static float[] Values(Tensor tensor) => tensor.detach().data<float>().ToArray();

    [Fact]
    public void Zeroing_keeps_gradients_allocated_and_zero()
    {
        var parameter = new Parameter(ones(3));
        parameter.grad = full(3, 2.0f);
        using var optimizer = new AdamWOptimizer([parameter], lr: 0.1);
        optimizer.ZeroGrad();
        Assert.NotNull(parameter.grad);
        Assert.Equal([0f, 0, 0], parameter.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Released_gradients_come_back_as_zeros_only_where_backward_gave_none()
    {
        var used = new Parameter(ones(3));
        var unused = new Parameter(ones(2));
        var never = new Parameter(ones(1));
        used.grad = full(3, 2.0f);
        unused.grad = full(2, 2.0f);
        using var optimizer = new AdamWOptimizer([used, unused, never], lr: 0.1);
        var had = optimizer.ReleaseGradients();
        Assert.Equal([true, true, false], had);
        Assert.Null(used.grad);
        Assert.Null(unused.grad);
        (used * used).sum().backward();
        optimizer.RestoreZeroGradients(had);
        Assert.Equal([2f, 2, 2], used.grad!.data<float>().ToArray());
        Assert.Equal([0f, 0], unused.grad!.data<float>().ToArray());
        Assert.Null(never.grad);
    }

    [Fact]
    public void Bad_hyperparameters_are_refused()
    {
        var parameters = new[] { new Parameter(ones(1)) };
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamWOptimizer(parameters, lr: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamWOptimizer(parameters, lr: 1e-4, beta1: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamWOptimizer(parameters, lr: 1e-4, weightDecay: double.NaN));
    }
}
