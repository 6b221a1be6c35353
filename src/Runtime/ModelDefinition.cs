using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// One declared model as the library's commands take it (<see cref="TrainingRun"/>, <see cref="ImageSampling"/>,
/// <see cref="NllEvaluation"/>, the command-line tool), emitted by the generator as <c>M.Definition</c>: its name and
/// configuration, factories for its network and diffusion, and the training defaults of its <c>[Training]</c> attribute.
/// </summary>
/// <param name="Name">The model class's name.</param>
/// <param name="Summary">The configuration as the generated files' header describes it, one line per entry.</param>
/// <param name="ImageSize">Height and width of the images, in pixels.</param>
/// <param name="Channels">Image channels.</param>
/// <param name="NumClasses">Classes of a class-conditional model; 0 when unconditional.</param>
/// <param name="ParameterCount">The network's parameter count, computed at compile time.</param>
/// <param name="Training">The <c>[Training]</c> attribute's settings, which command-line options override.</param>
/// <param name="CreateNetwork">A new network, initialised as the reference initialises it.</param>
/// <param name="CreateDiffusion">The diffusion process for a respacing (null: the declared default).</param>
public sealed record ModelDefinition(
    string Name,
    IReadOnlyList<string> Summary,
    int ImageSize,
    int Channels,
    int NumClasses,
    long ParameterCount,
    TrainingOptions Training,
    Func<DiffusionNetworkModule> CreateNetwork,
    Func<string?, GaussianDiffusion> CreateDiffusion)
{
    /// <summary>Whether the network takes class labels.</summary>
    public bool ClassConditional => NumClasses > 0;

    /// <summary>A super-resolution model's low-resolution side in pixels (<c>[SuperRes(SmallSize)]</c>); 0 for other models.
    /// Its network is a <see cref="SuperResNetworkModule"/>.</summary>
    public int SmallSize { get; init; }

    /// <summary>Whether the model makes <see cref="ImageSize"/> images from <see cref="SmallSize"/> ones.</summary>
    public bool SuperResolution => SmallSize > 0;

    /// <summary>
    /// A network with the weights of <paramref name="path"/> (ours or the reference's <c>.pt</c>, or <c>.safetensors</c>;
    /// refused with the file and key named if it does not fit), on <paramref name="device"/>, in eval mode.
    /// </summary>
    public DiffusionNetworkModule LoadNetwork(string path, Device? device = null)
    {
        var network = CreateNetwork();
        try
        {
            Checkpoint.LoadStateDict(network, path);
            // A freshly built network already lives on the CPU; only other devices need the move.
            if (device is not null && device.type != DeviceType.CPU) network.to(device);
            network.eval();
            return network;
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }
}
