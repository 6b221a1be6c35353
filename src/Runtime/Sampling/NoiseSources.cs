using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Where the engine's Gaussian draws come from. The loops draw in the reference's order (the initial image, then one
/// draw per step with t = 0 included; <c>CalcBpdLoop</c> one per t from T−1 down to 0), so identical draws give the
/// reference's result. Each call returns a new float32 tensor that the caller owns.
/// </summary>
public interface INoiseSource
{
    Tensor Next(long[] shape);
}

/// <summary>Standard normal draws from a seeded generator: the same seed gives the same sequence.</summary>
public sealed class SeededNoiseSource : INoiseSource, IDisposable
{
    readonly Generator generator;
    readonly Device device;

    public SeededNoiseSource(long seed, Device? device = null)
    {
        this.device = device ?? CPU;
        generator = new Generator((ulong)seed, this.device);
    }

    public Tensor Next(long[] shape) => randn(shape, dtype: ScalarType.Float32, device: device, generator: generator);

    /// <summary>The underlying generator, for other draws that must follow the same seed (e.g. random class labels).</summary>
    public Generator Generator => generator;

    public void Dispose() => generator.Dispose();
}

/// <summary>Replays given draws in order (to reproduce a recorded run, or the reference's own draws).</summary>
public sealed class ReplayNoiseSource(IEnumerable<Tensor> draws) : INoiseSource
{
    readonly Queue<Tensor> remaining = new(draws);
    int used;

    public int Remaining => remaining.Count;

    public Tensor Next(long[] shape)
    {
        if (!remaining.TryDequeue(out var draw))
            throw new InvalidOperationException($"the replayed noise ran out after {used} draws");
        used++;
        if (!draw.shape.SequenceEqual(shape))
            throw new ArgumentException($"replayed draw {used} has shape [{string.Join(",", draw.shape)}], the engine asked for [{string.Join(",", shape)}]");
        return draw.clone();
    }
}
