using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>Inception outputs for a batch: the pool3 features [N, 2048] FID uses and the logits [N, 1008] the
/// Inception Score uses. Disposing disposes both.</summary>
public sealed record InceptionOutputs(Tensor Pool3, Tensor Logits) : IDisposable
{
    public void Dispose()
    {
        Pool3.Dispose();
        Logits.Dispose();
    }
}

/// <summary>
/// The Inception-v3 FID is defined with: pytorch-fid's <c>fid_inception_v3()</c>, a port of TensorFlow's
/// <c>inception-2015-12-05</c> graph. The layout is torchvision's <c>Inception3</c> with <c>aux_logits=False</c> and
/// 1008 classes, with pytorch-fid's patched blocks (<see cref="FidInceptionA"/> for Mixed_5b–5d,
/// <see cref="FidInceptionC"/> for Mixed_6b–6e, <see cref="FidInceptionE"/> with average pooling for Mixed_7b and max
/// pooling for Mixed_7c). The state_dict keys and shapes are those of <c>pt_inception-2015-12-05-6726825d.pth</c>, in
/// PyTorch's order; <see cref="LoadWeights"/> reads that file.
/// <para>
/// <see cref="forward"/> is pytorch-fid's <c>InceptionV3</c> wrapper with <c>resize_input=True,
/// normalize_input=True</c> and the final block: images in [0, 1] are resized bilinearly to 299×299
/// (<c>align_corners=False</c>), mapped to [−1, 1], run to Mixed_7c and average-pooled to the pool3 features.
/// torchvision's dropout before <c>fc</c> does nothing in evaluation and is left out. The network is built in evaluation
/// mode (batch norm uses its running statistics); it is meant for inference only.
/// </para>
/// </summary>
public sealed class FidInceptionV3 : nn.Module<Tensor, Tensor>
{
    /// <summary>The input size the images are resized to.</summary>
    public const int ImageSize = 299;

    /// <summary>Width of the pool3 features.</summary>
    public const int FeatureDimension = 2048;

    /// <summary>Number of classes of the TensorFlow graph's softmax (1000 ImageNet classes and 8 unused).</summary>
    public const int ClassCount = 1008;

    const string NumBatchesTracked = "num_batches_tracked";

    public readonly InceptionBasicConv2d Conv2d_1a_3x3;
    public readonly InceptionBasicConv2d Conv2d_2a_3x3;
    public readonly InceptionBasicConv2d Conv2d_2b_3x3;
    public readonly InceptionBasicConv2d Conv2d_3b_1x1;
    public readonly InceptionBasicConv2d Conv2d_4a_3x3;
    public readonly FidInceptionA Mixed_5b;
    public readonly FidInceptionA Mixed_5c;
    public readonly FidInceptionA Mixed_5d;
    public readonly InceptionB Mixed_6a;
    public readonly FidInceptionC Mixed_6b;
    public readonly FidInceptionC Mixed_6c;
    public readonly FidInceptionC Mixed_6d;
    public readonly FidInceptionC Mixed_6e;
    public readonly InceptionD Mixed_7a;
    public readonly FidInceptionE Mixed_7b;
    public readonly FidInceptionE Mixed_7c;
    public readonly Linear fc;

    /// <summary>A randomly initialised network (TorchSharp's default initialisation); load the FID weights with
    /// <see cref="LoadWeights"/> or build it with <see cref="Load"/>.</summary>
    public FidInceptionV3() : base(nameof(FidInceptionV3))
    {
        Conv2d_1a_3x3 = new InceptionBasicConv2d(3, 32, 3, stride: 2);
        Conv2d_2a_3x3 = new InceptionBasicConv2d(32, 32, 3);
        Conv2d_2b_3x3 = new InceptionBasicConv2d(32, 64, 3, padding: 1);
        Conv2d_3b_1x1 = new InceptionBasicConv2d(64, 80, 1);
        Conv2d_4a_3x3 = new InceptionBasicConv2d(80, 192, 3);
        Mixed_5b = new FidInceptionA(192, poolFeatures: 32);
        Mixed_5c = new FidInceptionA(256, poolFeatures: 64);
        Mixed_5d = new FidInceptionA(288, poolFeatures: 64);
        Mixed_6a = new InceptionB(288);
        Mixed_6b = new FidInceptionC(768, channels7x7: 128);
        Mixed_6c = new FidInceptionC(768, channels7x7: 160);
        Mixed_6d = new FidInceptionC(768, channels7x7: 160);
        Mixed_6e = new FidInceptionC(768, channels7x7: 192);
        Mixed_7a = new InceptionD(768);
        Mixed_7b = new FidInceptionE(1280, InceptionEPooling.AverageExcludingPadding);
        Mixed_7c = new FidInceptionE(2048, InceptionEPooling.Max);
        fc = nn.Linear(FeatureDimension, ClassCount);
        RegisterComponents();
        eval();
    }

    /// <summary>A network with the weights of <paramref name="path"/> (<c>pt_inception-2015-12-05-6726825d.pth</c>, or
    /// a checkpoint <see cref="Checkpoint.SaveStateDict(nn.Module, string)"/> wrote of this network), on
    /// <paramref name="device"/> (CPU by default), in evaluation mode.</summary>
    public static FidInceptionV3 Load(string path, Device? device = null)
    {
        var network = new FidInceptionV3();
        try
        {
            if (device is not null) network.to(device);
            network.LoadWeights(path);
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads weights strictly, as <see cref="Checkpoint.LoadStateDict(nn.Module, string)"/> does, with one allowance:
    /// a file without any <c>bn.num_batches_tracked</c> entries is accepted too, and the counters stay 0 (what PyTorch's
    /// BatchNorm does for such files). The counters only matter for training with momentum=None; inference never reads
    /// them. pytorch-fid's file has the counters (PyTorch versions without them reject it with "Unexpected key(s)
    /// …bn.num_batches_tracked", mseitzer/pytorch-fid#34); the allowance covers conversions that drop them. Any other
    /// missing, unexpected or misshapen key is refused.
    /// <para>
    /// The file may be in any format <see cref="Checkpoint"/> reads: pytorch-fid's published
    /// <c>pt_inception-2015-12-05-6726825d.pth</c> as it is (the legacy, pre-1.6 <c>torch.save</c> format), a PyTorch zip
    /// checkpoint, or <c>.safetensors</c>.
    /// </para>
    /// </summary>
    /// <exception cref="CheckpointMismatchException">The file does not hold this network's weights.</exception>
    public void LoadWeights(string path)
    {
        try
        {
            Checkpoint.LoadStateDict(this, path);
        }
        catch (CheckpointMismatchException e) when (IsCounter(e.Key))
        {
            // The first key the file lacks is a counter: try again without the counters. The retry is as strict about
            // everything else, so a file that lacks only some counters, or anything more, is still refused.
            var withoutCounters = state_dict().Where(entry => !IsCounter(entry.Key)).ToDictionary(entry => entry.Key, entry => entry.Value);
            Checkpoint.LoadStateDict(withoutCounters, path);
        }
    }

    static bool IsCounter(string key) => key == NumBatchesTracked || key.EndsWith("." + NumBatchesTracked, StringComparison.Ordinal);

    /// <summary>
    /// The state in PyTorch's order (each module's parameters, then its buffers, then its children's, depth first), so
    /// that keys read and written follow <c>fid_inception_v3().state_dict()</c>. TorchSharp's own order lists every
    /// parameter of the tree before any buffer.
    /// </summary>
    public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null)
    {
        destination ??= new Dictionary<string, Tensor>();
        AddInPyTorchOrder(this, string.IsNullOrEmpty(prefix) ? "" : prefix + ".", destination);
        return destination;
    }

    static void AddInPyTorchOrder(nn.Module module, string prefix, Dictionary<string, Tensor> destination)
    {
        foreach (var (name, parameter) in module.named_parameters(recurse: false))
            destination.TryAdd(prefix + name, parameter);
        foreach (var (name, buffer) in module.named_buffers(recurse: false, include_nonpersistent: false))
            destination.TryAdd(prefix + name, buffer);
        foreach (var (name, child) in module.named_children())
            AddInPyTorchOrder(child, prefix + name + ".", destination);
    }

    /// <summary>
    /// pytorch-fid's input transform: <c>F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)</c>,
    /// then <c>2x − 1</c>.
    /// </summary>
    /// <param name="images">[N, 3, H, W] float images in [0, 1].</param>
    /// <returns>[N, 3, 299, 299] in [−1, 1].</returns>
    public static Tensor Preprocess(Tensor images)
    {
        CheckImages(images);
        using var resized = nn.functional.interpolate(images, size: [ImageSize, ImageSize], mode: InterpolationMode.Bilinear,
            align_corners: false);
        using var two = 2.ToScalar();
        using var one = 1.ToScalar();
        var scaled = resized.mul(two);
        return scaled.sub_(one);
    }

    /// <summary>The pool3 features [N, 2048] of images [N, 3, H, W] in [0, 1] (pytorch-fid's block 3 output, flattened).</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = Preprocess(images);
        x = Conv2d_1a_3x3.call(x);
        x = Conv2d_2a_3x3.call(x);
        x = Conv2d_2b_3x3.call(x);
        x = nn.functional.max_pool2d(x, 3, stride: 2);
        x = Conv2d_3b_1x1.call(x);
        x = Conv2d_4a_3x3.call(x);
        x = nn.functional.max_pool2d(x, 3, stride: 2);
        x = Mixed_5b.call(x);
        x = Mixed_5c.call(x);
        x = Mixed_5d.call(x);
        x = Mixed_6a.call(x);
        x = Mixed_6b.call(x);
        x = Mixed_6c.call(x);
        x = Mixed_6d.call(x);
        x = Mixed_6e.call(x);
        x = Mixed_7a.call(x);
        x = Mixed_7b.call(x);
        x = Mixed_7c.call(x);
        x = nn.functional.adaptive_avg_pool2d(x, [1, 1]);
        return x.flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>The logits [N, 1008] of pool3 features [N, 2048]: <c>fc</c> (the dropout before it is the identity in
    /// evaluation).</summary>
    public Tensor Logits(Tensor pool3) => fc.call(pool3);

    /// <summary>Pool3 features and logits of images [N, 3, H, W] in [0, 1].</summary>
    public InceptionOutputs Extract(Tensor images)
    {
        var pool3 = forward(images);
        try
        {
            return new InceptionOutputs(pool3, Logits(pool3));
        }
        catch
        {
            pool3.Dispose();
            throw;
        }
    }

    static void CheckImages(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"Inception expects images [N, 3, H, W]; got [{string.Join(", ", images.shape)}]", nameof(images));
        if (!images.is_floating_point())
            throw new ArgumentException($"Inception expects float images in [0, 1]; got {images.dtype}", nameof(images));
    }
}
