using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>The Inception outputs of images <see cref="Start"/> … <see cref="Start"/> + <see cref="Count"/> − 1:
/// <see cref="Pool3"/> is [Count, 2048] and <see cref="Logits"/> [Count, 1008], row-major.</summary>
public sealed record InceptionFeatureBatch(int Start, int Count, float[] Pool3, float[] Logits);

/// <summary>Inception features of uint8 images, a batch at a time, without autograd and in evaluation mode.</summary>
public static class InceptionFeatures
{
    /// <summary>
    /// Images per batch. pytorch-fid's 50 is a GPU choice; on this 2-core CPU a batch of 50 cost 0.21 s per image and
    /// one of 10 0.14 s (InceptionBenchmarks, one run), the larger batch's 299×299 activations outgrowing the caches.
    /// Each image is computed independently of its batch (evaluation mode), up to float rounding.
    /// </summary>
    public const int DefaultBatchSize = 10;

    /// <summary>
    /// The features of images laid out as a sample <c>.npz</c>'s <c>arr_0</c>: uint8 [N, H, W, 3], 0–255. Each image is
    /// converted to float as <c>x / 255</c> (what <c>ToTensor()</c> does in pytorch-fid), then run through
    /// <see cref="FidInceptionV3.Extract"/> on the network's device. Only one batch's tensors exist at a time; each
    /// batch is returned as arrays.
    /// </summary>
    /// <param name="network">Put in evaluation mode before the first batch.</param>
    /// <param name="imagesNhwc">N·H·W·3 bytes.</param>
    /// <param name="shape">[N, H, W, 3].</param>
    public static IEnumerable<InceptionFeatureBatch> FromUInt8Nhwc(FidInceptionV3 network, ReadOnlyMemory<byte> imagesNhwc, long[] shape,
        int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (shape.Length != 4 || shape[3] != 3 || shape.Any(size => size < 0) || shape[1] == 0 || shape[2] == 0)
            throw new ArgumentException($"images must be [N, H, W, 3] uint8; got [{string.Join(", ", shape)}]", nameof(shape));
        var imageBytes = checked((int)(shape[1] * shape[2] * shape[3]));
        if (imagesNhwc.Length != checked(shape[0] * imageBytes))
            throw new ArgumentException($"[{string.Join(", ", shape)}] needs {shape[0] * imageBytes} bytes; got {imagesNhwc.Length}", nameof(imagesNhwc));
        return Batches(network, imagesNhwc, (int)shape[0], (int)shape[1], (int)shape[2], batchSize);
    }

    static IEnumerable<InceptionFeatureBatch> Batches(FidInceptionV3 network, ReadOnlyMemory<byte> images, int count, int height, int width,
        int batchSize)
    {
        network.eval();
        var imageBytes = height * width * 3;
        for (var start = 0; start < count; start += batchSize)
        {
            var n = Math.Min(batchSize, count - start);
            yield return Extract(network, images.Slice(start * imageBytes, n * imageBytes).Span, start, n, height, width);
        }
    }

    /// <summary>One batch, with its own dispose scope and no_grad, so nothing outlives it and the caller's code between
    /// batches runs in its own autograd mode.</summary>
    static InceptionFeatureBatch Extract(FidInceptionV3 network, ReadOnlySpan<byte> images, int start, int n, int height, int width)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var device = network.fc.weight.device;
        var bytes = tensor(images.ToArray(), [n, height, width, 3], ScalarType.Byte);
        using var maximum = 255f.ToScalar();
        var floats = bytes.to(device).permute(0, 3, 1, 2).to(ScalarType.Float32).div_(maximum);
        var outputs = network.Extract(floats);
        return new InceptionFeatureBatch(start, n, ToArray(outputs.Pool3), ToArray(outputs.Logits));
    }

    static float[] ToArray(Tensor values)
    {
        using var onCpu = values.cpu().contiguous();
        return onCpu.data<float>().ToArray();
    }
}
