using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The low-resolution images a super-resolution model upsamples (the reference's <c>super_res_sample.py
/// --base_samples</c>): the <c>.npz</c> that sampling the low-resolution model wrote, <c>arr_0</c> [N, S, S, C] uint8
/// and, for a class-conditional model, <c>arr_1</c> [N] labels. Image i conditions the i-th high-resolution sample.
/// </summary>
public sealed class BaseSamples
{
    readonly SampleSet set;

    BaseSamples(SampleSet set) => this.set = set;

    /// <summary>How many base samples the file holds.</summary>
    public int Count => set.Count;

    /// <summary>Checks the file against <paramref name="model"/> from its headers alone and returns its sample count.</summary>
    /// <exception cref="DataException">No such file, not an .npz, or arrays of the wrong shape or type; the message names the file and the expected shape.</exception>
    public static int CountIn(ModelDefinition model, string path)
    {
        using var npz = new NpzReader(path);
        var images = npz.Header("arr_0");
        var labels = npz.Contains("arr_1") ? npz.Header("arr_1") : null;
        Check(model, path, images.DType == NpyDType.UInt8, images.Shape, labels?.Shape);
        return (int)images.Shape[0];
    }

    /// <summary>Reads the file whole and checks it against <paramref name="model"/> (labels in range included).</summary>
    /// <exception cref="DataException">As <see cref="CountIn"/>, or a label outside the model's classes.</exception>
    public static BaseSamples Load(ModelDefinition model, string path)
    {
        CountIn(model, path);
        var set = SampleSet.Load(path);
        var bad = model.ClassConditional ? Array.FindIndex(set.Labels!, label => label < 0 || label >= model.NumClasses) : -1;
        if (bad >= 0)
            throw new DataException(path, $"{path}: arr_1[{bad}] is {set.Labels![bad]}; {model.Name} has classes 0 to {model.NumClasses - 1}");
        return new BaseSamples(set);
    }

    /// <summary>Base samples <paramref name="first"/> … first + count − 1 as the network's low-resolution input:
    /// [count, C, S, S] float32 in [−1, 1] (<c>x / 127.5 − 1</c>, as the reference reads them).</summary>
    public Tensor LowRes(int first, int count, Device device)
    {
        var plane = set.Height * set.Width;
        var perImage = plane * set.Channels;
        var values = new float[count * perImage];
        for (var i = 0; i < count; i++)
            PixelConversion.HwcToChw(set.Pixels.AsSpan((first + i) * perImage, perImage), plane, values.AsSpan(i * perImage, perImage));
        return tensor(values, [count, set.Channels, set.Height, set.Width], device: device);
    }

    /// <summary>The labels of base samples <paramref name="first"/> … first + count − 1; null for an unconditional model's file.</summary>
    public Tensor? Labels(int first, int count, Device device) =>
        set.Labels is null ? null : tensor(set.Labels.AsSpan(first, count).ToArray(), [count], device: device);

    static void Check(ModelDefinition model, string path, bool isUInt8, long[] shape, long[]? labelShape)
    {
        var small = model.SmallSize;
        var expected = $"[N, {small}, {small}, {model.Channels}] uint8 images (NHWC, as `sample` writes them)";
        if (!isUInt8 || shape.Length != 4 || shape[1] != small || shape[2] != small || shape[3] != model.Channels)
            throw new DataException(path, $"{path}: arr_0 is {(isUInt8 ? "uint8" : "not uint8")} [{string.Join(", ", shape)}]; {model.Name} upsamples {expected}");
        if (shape[0] == 0) throw new DataException(path, $"{path} holds no base samples");
        if (model.ClassConditional && labelShape is null)
            throw new DataException(path, $"{path} has no arr_1: {model.Name} is class-conditional and takes each base sample's label from it");
        if (model.ClassConditional && (labelShape!.Length != 1 || labelShape[0] != shape[0]))
            throw new DataException(path, $"{path}: arr_1 is [{string.Join(", ", labelShape)}]; one label per base sample, [{shape[0]}], was expected");
    }
}
