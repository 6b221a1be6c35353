using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// A super-resolution network (the reference's <c>SuperResModel</c>): what every generated <c>M.Network</c> of a
/// <c>[SuperRes]</c> model derives from. Its <see cref="forward(Tensor, Tensor, Tensor, Tensor?)"/> also takes the
/// low-resolution image; the diffusion engine, which passes (x, t, y) only, gets the network bound to one batch's
/// low-resolution images by <see cref="ConditionedOn"/>, as the reference passes <c>low_res</c> in <c>model_kwargs</c>.
/// </summary>
/// <param name="name">The module's name.</param>
/// <param name="lowResSize">Side of the low-resolution images, in pixels (the model's <c>SmallSize</c>).</param>
public abstract class SuperResNetworkModule(string name, int lowResSize) : DiffusionNetworkModule(name)
{
    /// <summary>Side of the low-resolution images the network was declared for, in pixels (the model's <c>SmallSize</c>).</summary>
    public int LowResSize { get; } = lowResSize;

    /// <param name="x">[N, C, H, W] noisy images.</param>
    /// <param name="timesteps">[N] timesteps exactly as they are to be embedded.</param>
    /// <param name="lowRes">[N, C, H / f, W / f] low-resolution images in [−1, 1] (f = image size / small size).</param>
    /// <param name="y">[N] class labels for a class-conditional network, else null.</param>
    public abstract Tensor forward(Tensor x, Tensor timesteps, Tensor lowRes, Tensor? y = null);

    /// <summary>Refused: a super-resolution network needs its low-resolution images.</summary>
    /// <exception cref="InvalidOperationException">Always.</exception>
    public sealed override Tensor forward(Tensor x, Tensor timesteps, Tensor? y = null) =>
        throw new InvalidOperationException(
            $"{GetName()} is a super-resolution network: give it the low-resolution images, forward(x, timesteps, lowRes, y), " +
            "or bind them with ConditionedOn(lowRes) for the diffusion's loops");

    /// <summary>
    /// The low-resolution conditioning of high-resolution images, as the reference's <c>super_res_train.py</c> makes it:
    /// <c>F.interpolate(images, smallSize, mode="area")</c>, the mean of each block when the sizes divide.
    /// </summary>
    public static Tensor AreaDownsample(Tensor images, long smallSize)
    {
        ArgumentNullException.ThrowIfNull(images);
        return nn.functional.interpolate(images, [smallSize, smallSize], mode: InterpolationMode.Area);
    }

    /// <summary>
    /// The low-resolution image at the network's size, as the reference's <c>SuperResModel.forward</c> makes it:
    /// <c>F.interpolate(lowRes, (height, width), mode="bilinear")</c> (corners not aligned).
    /// </summary>
    public static Tensor UpsampleBilinear(Tensor lowRes, long height, long width)
    {
        ArgumentNullException.ThrowIfNull(lowRes);
        return nn.functional.interpolate(lowRes, [height, width], mode: InterpolationMode.Bilinear, align_corners: false);
    }

    /// <summary>
    /// This network with <paramref name="lowRes"/> as every call's low-resolution input, for the diffusion's losses and
    /// loops over a batch of those images. The caller keeps ownership of <paramref name="lowRes"/>.
    /// </summary>
    public IDiffusionNetwork ConditionedOn(Tensor lowRes)
    {
        ArgumentNullException.ThrowIfNull(lowRes);
        return DiffusionNetwork.FromFunction((x, timesteps, y) => forward(x, timesteps, lowRes, y));
    }

    /// <summary>This network conditioned on <paramref name="images"/> themselves, area-downsampled to
    /// <see cref="LowResSize"/>: how training and the bits/dim evaluation condition on their data.</summary>
    public IDiffusionNetwork ConditionedOnDownsampled(Tensor images) => ConditionedOn(AreaDownsample(images, LowResSize));
}
