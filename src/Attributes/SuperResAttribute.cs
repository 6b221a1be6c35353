namespace ImprovedDdpm;

/// <summary>
/// Makes the model a super-resolution model (the reference's <c>SuperResModel</c>, <c>super_res_train.py</c> and
/// <c>super_res_sample.py</c>): the network also takes a low-resolution image of side <see cref="SmallSize"/>, upsamples
/// it bilinearly to <see cref="UNetAttribute.ImageSize"/> and reads it as extra input channels. Training conditions
/// each image on its own area-downsampled copy; sampling upsamples the samples of a low-resolution model.
/// </summary>
[System.AttributeUsage(System.AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class SuperResAttribute : System.Attribute
{
    /// <summary>
    /// Side of the low-resolution images in pixels (<c>--small_size</c>, default 64, as <c>sr_model_and_diffusion_defaults()</c>);
    /// smaller than the image size and dividing it.
    /// </summary>
    public int SmallSize { get; set; } = 64;
}
