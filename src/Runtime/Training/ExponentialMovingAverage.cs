using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// An exponential moving average of a network's parameters (reference: the <c>ema_params</c> of <c>TrainLoop</c> and
/// <c>update_ema</c>): after every optimiser step, ema ← rate·ema + (1 − rate)·param, with no bias correction and no
/// warm-up, starting from a copy of the parameters. Buffers are not averaged; a saved average carries the network's
/// current buffers under their keys, as the reference's <c>ema_*.pt</c> do.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    readonly nn.Module network;
    readonly List<(string Name, Tensor Source, Tensor Average)> parameters;

    /// <param name="network">The network whose parameters are averaged; the average starts as a copy of them.</param>
    /// <param name="rate">The weight of the old average, in [0, 1] (closer to 1 is slower).</param>
    public ExponentialMovingAverage(nn.Module network, double rate)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!(rate >= 0 && rate <= 1))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "an EMA rate must be in [0, 1]");
        this.network = network;
        Rate = rate;
        using (no_grad())
        {
            parameters = network.named_parameters()
                .Select(p => (p.name, (Tensor)p.parameter, p.parameter.detach().clone().DetachFromDisposeScope()))
                .ToList();
        }
    }

    /// <summary>The weight of the old average.</summary>
    public double Rate { get; }

    /// <summary>The averaged values, by the network's parameter names, in its order.</summary>
    public IReadOnlyList<KeyValuePair<string, Tensor>> Parameters =>
        parameters.Select(p => KeyValuePair.Create(p.Name, p.Average)).ToList();

    /// <summary>ema ← rate·ema + (1 − rate)·param for every parameter, in place (reference: <c>update_ema</c>).</summary>
    public void Update()
    {
        using var gradients = no_grad();
        // Scalars held for the whole loop: TorchSharp 0.107 lets a GC finalize an implicit Scalar temporary while the
        // native call still reads it (dotnet/TorchSharp#1434).
        using var rate = Rate.ToScalar();
        using var complement = (1 - Rate).ToScalar();
        foreach (var (_, source, average) in parameters)
            average.mul_(rate).add_(source, alpha: complement);
    }

    /// <summary>Restarts the average at the network's current parameters.</summary>
    public void Reset()
    {
        using var gradients = no_grad();
        foreach (var (_, source, average) in parameters) average.copy_(source);
    }

    /// <summary>Copies the average into the network's parameters (to sample or evaluate with the averaged weights).</summary>
    public void CopyTo(nn.Module target)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var gradients = no_grad();
        var named = target.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, _, average) in parameters)
        {
            if (!named.TryGetValue(name, out var parameter))
                throw new ArgumentException($"the target network has no parameter '{name}'", nameof(target));
            parameter.copy_(average);
        }
    }

    /// <summary>
    /// The network's state dict with every parameter replaced by its average (reference:
    /// <c>_master_params_to_state_dict</c>): loadable into the network as ordinary weights.
    /// </summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = network.state_dict();
        foreach (var (name, _, average) in parameters) state[name] = average;
        return state;
    }

    /// <summary>Writes <see cref="StateDict"/> with <see cref="Checkpoint.SaveStateDict(IEnumerable{KeyValuePair{string, Tensor}}, string)"/>.</summary>
    public void Save(string path) => Checkpoint.SaveStateDict(StateDict(), path);

    /// <summary>
    /// Loads an average saved by <see cref="Save"/> (or by the reference), strictly against the network's keys; only
    /// the parameters are taken, the buffers in the file are checked and ignored.
    /// </summary>
    public void Load(string path)
    {
        var state = network.state_dict();
        var buffers = state.Keys.Except(parameters.Select(p => p.Name)).ToList();
        // Check every key (buffers included) and shape, but copy buffer values into scratch tensors.
        using var scope = NewDisposeScope();
        foreach (var key in buffers) state[key] = state[key].detach().clone();
        foreach (var (name, _, average) in parameters) state[name] = average;
        Checkpoint.LoadStateDict(state, path);
    }

    /// <summary>
    /// The file name the reference gives the average at a step: <c>ema_{rate}_{step:06d}.pt</c>, with the rate as
    /// Python prints a float ("0.9999", "1.0").
    /// </summary>
    public static string FileName(double rate, long step) =>
        string.Create(CultureInfo.InvariantCulture, $"ema_{PythonFloat(rate)}_{step:D6}.pt");

    /// <summary>A float as Python's <c>str</c> writes it: shortest round-trip digits, always with a '.' or an exponent.</summary>
    internal static string PythonFloat(double value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');
        return text.Contains('.') || text.Contains('e') || !double.IsFinite(value) ? text : text + ".0";
    }

    public void Dispose()
    {
        foreach (var (_, _, average) in parameters) average.Dispose();
        parameters.Clear();
    }
}
