using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>A Gaussian's mean, variance and log-variance, each broadcast to the image shape.</summary>
public sealed record GaussianMoments(Tensor Mean, Tensor Variance, Tensor LogVariance);

/// <summary>p(x_{t−1} | x_t) and the x_0 it implies (reference: the dict of <c>p_mean_variance</c>).</summary>
public sealed record MeanVariance(Tensor Mean, Tensor Variance, Tensor LogVariance, Tensor PredXStart);

/// <summary>One reverse step's result (reference: the dict of <c>p_sample</c> / <c>ddim_sample</c>).</summary>
public sealed record SampleStep(Tensor Sample, Tensor PredXStart);

/// <summary>
/// Per-example training losses, shape [N] (reference: the dict of <c>training_losses</c>). <see cref="Mse"/> is set
/// for the MSE losses, <see cref="Vb"/> (bits) when the variance is learned under an MSE loss.
/// </summary>
public sealed record LossTerms(Tensor Loss, Tensor? Mse, Tensor? Vb);

/// <summary>
/// The variational bound in bits per dimension (reference: <c>calc_bpd_loop</c>): totals and prior [N], and the
/// per-step terms [N, T] in the order the loop visits them, as the reference stacks them: column k holds
/// timestep T − 1 − k (column 0 is t = T − 1, the last column t = 0).
/// </summary>
public sealed record BpdTerms(Tensor TotalBpd, Tensor PriorBpd, Tensor Vb, Tensor XStartMse, Tensor Mse);
