using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The gradients that the backward of a custom autograd function (<see cref="GradientCheckpoint"/>,
/// <see cref="BitMaskDropout"/>) handed to libtorch. libtorch takes its own reference as soon as the callback returns,
/// but the managed wrappers stay in the dispose scope of the thread that called backward, and with them the memory, to
/// the end of the training step. They are released at the thread's next custom forward or backward instead.
/// </summary>
static class GradientHandOff
{
    [ThreadStatic] static List<Tensor>? handedBack;

    public static void Add(Tensor gradient) => (handedBack ??= []).Add(gradient);

    public static void Release()
    {
        if (handedBack is null) return;
        foreach (var tensor in handedBack) tensor.Dispose();
        handedBack.Clear();
    }
}
