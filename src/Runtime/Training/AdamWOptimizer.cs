using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// PyTorch's AdamW (<c>torch.optim.AdamW</c>, the single-tensor path with amsgrad off, as the reference trains with),
/// update for update: for each parameter with a gradient, step += 1; p ← p·(1 − lr·λ); m ← β₁m + (1 − β₁)g;
/// v ← β₂v + (1 − β₂)g²; p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε).
/// </summary>
/// <remarks>
/// Why not TorchSharp's <c>optim.AdamW</c>: its step passes implicit <c>Scalar</c> temporaries to libtorch, which a
/// collection on another thread can finalize mid-call (dotnet/TorchSharp#1434); a long run died of it at a random
/// step. Here every Scalar is held until its call returns. The arithmetic is the same operations in the same order,
/// so the result is bit for bit TorchSharp's and PyTorch's (tested); <see cref="OptimizerCheckpoint"/> keeps PyTorch's
/// <c>state_dict</c> layout.
/// </remarks>
public sealed class AdamWOptimizer : IDisposable
{
    readonly Scalar beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps;

    /// <param name="parameters">The parameters, in the order the optimizer state numbers them.</param>
    /// <param name="lr">The learning rate; <see cref="LearningRate"/> changes it between steps (the anneal).</param>
    public AdamWOptimizer(IEnumerable<Parameter> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(lr >= 0)) throw new ArgumentOutOfRangeException(nameof(lr), lr, "the learning rate must be ≥ 0");
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "β₁ must be in [0, 1)");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "β₂ must be in [0, 1)");
        if (!(eps >= 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "ε must be ≥ 0");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "the weight decay must be ≥ 0");
        Parameters = parameters.ToList();
        LearningRate = lr;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        this.beta1 = beta1.ToScalar();
        this.beta2 = beta2.ToScalar();
        oneMinusBeta1 = (1 - beta1).ToScalar();
        oneMinusBeta2 = (1 - beta2).ToScalar();
        this.eps = eps.ToScalar();
        using var gradients = no_grad();
        States = Parameters.Select(p => new AdamWState(
            zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope())).ToList();
    }

    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The moments and step count of each parameter, in the order of <see cref="Parameters"/>.</summary>
    public IReadOnlyList<AdamWState> States { get; }

    /// <summary>The learning rate of the next step.</summary>
    public double LearningRate { get; set; }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }

    /// <summary>The decoupled weight decay λ.</summary>
    public double WeightDecay { get; }

    /// <summary>Zeroes every gradient in place, as the reference's <c>zero_grad</c> does (gradients stay allocated).</summary>
    public void ZeroGrad()
    {
        using var scope = NewDisposeScope();
        using var gradients = no_grad();
        foreach (var parameter in Parameters) parameter.grad?.zero_();
    }

    /// <summary>
    /// Frees every gradient (PyTorch's <c>zero_grad(set_to_none=True)</c>): the next backward then takes its gradients
    /// as they come instead of adding them into zeroed buffers, which saves two passes over the parameters, and the
    /// gradients are not held through the forward pass. Returns which parameters had a gradient, for
    /// <see cref="RestoreZeroGradients"/>.
    /// </summary>
    public bool[] ReleaseGradients()
    {
        using var scope = NewDisposeScope();
        var had = new bool[Parameters.Count];
        for (var i = 0; i < Parameters.Count; i++)
        {
            if (Parameters[i].grad is null) continue;
            had[i] = true;
            Parameters[i].grad = null;
        }
        return had;
    }

    /// <summary>
    /// After a backward that followed <see cref="ReleaseGradients"/>: a parameter that had a gradient but received none
    /// gets a zero one, so that the step treats it as after <see cref="ZeroGrad"/> (moments decay, the step counts).
    /// </summary>
    public void RestoreZeroGradients(bool[] hadGradient)
    {
        ArgumentNullException.ThrowIfNull(hadGradient);
        using var scope = NewDisposeScope();
        using var gradients = no_grad();
        for (var i = 0; i < Parameters.Count; i++)
        {
            if (hadGradient[i] && Parameters[i].grad is null) Parameters[i].grad = zeros_like(Parameters[i]);
        }
    }

    /// <summary>One update of every parameter that has a gradient (a parameter without one is skipped, as in PyTorch).</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        using var gradients = no_grad();
        var lr = LearningRate;
        using var decay = (1 - lr * WeightDecay).ToScalar();
        for (var i = 0; i < Parameters.Count; i++)
        {
            var parameter = Parameters[i];
            if (parameter.grad is not { } grad) continue;
            var state = States[i];
            state.Step++;
            // p·1 is p exactly, so skipping the multiplication without weight decay changes no bit.
            if (WeightDecay != 0) parameter.mul_(decay);

            var biasCorrection1 = 1 - Math.Pow(Beta1, state.Step);
            var biasCorrection2 = 1 - Math.Pow(Beta2, state.Step);
            state.ExpAvg.mul_(beta1).add_(grad, alpha: oneMinusBeta1);
            state.ExpAvgSq.mul_(beta2).addcmul_(grad, grad, value: oneMinusBeta2);

            using var biasCorrection2Sqrt = Math.Sqrt(biasCorrection2).ToScalar();
            using var negativeStepSize = (-(lr / biasCorrection1)).ToScalar();
            var denominator = state.ExpAvgSq.sqrt().div_(biasCorrection2Sqrt).add_(eps, TensorArithmetic.One);
            parameter.addcdiv_(state.ExpAvg, denominator, value: negativeStepSize);
        }
    }

    public void Dispose()
    {
        foreach (var state in States) state.Dispose();
        foreach (var scalar in new[] { beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps }) scalar.Dispose();
    }
}

/// <summary>One parameter's AdamW state: PyTorch's <c>step</c>, <c>exp_avg</c> and <c>exp_avg_sq</c>.</summary>
public sealed class AdamWState(Tensor expAvg, Tensor expAvgSq) : IDisposable
{
    /// <summary>Updates taken so far (0: none, and no entry in a saved state dict).</summary>
    public long Step { get; set; }

    public Tensor ExpAvg { get; } = expAvg;

    public Tensor ExpAvgSq { get; } = expAvgSq;

    public void Dispose()
    {
        ExpAvg.Dispose();
        ExpAvgSq.Dispose();
    }
}
