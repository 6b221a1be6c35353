using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// One batch as the training loop consumes it (reference: what <c>load_data</c> yields): images [N, C, H, W] float32 in
/// [−1, 1] and, for class-conditional models, labels [N] int64 (the reference's <c>cond["y"]</c>). The consumer owns
/// and disposes both tensors.
/// </summary>
public sealed record TrainingBatch(Tensor Images, Tensor? Labels) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels?.Dispose();
    }
}
