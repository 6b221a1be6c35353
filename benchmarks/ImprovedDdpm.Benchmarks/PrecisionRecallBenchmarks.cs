using BenchmarkDotNet.Attributes;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// <see cref="PrecisionRecall.Compute(Tensor, Tensor, int, int, PrecisionRecallArithmetic)"/> of two sets of N random
/// 2048-D float32 features shaped like Inception pool3 (non-negative, offset), by both arithmetics. The work is
/// quadratic in N: three N × N distance passes (two radii, one cross), so 50k costs (50000 / N)² times as much.
/// </summary>
public class PrecisionRecallBenchmarks
{
    Tensor real = null!, generated = null!;

    [Params(4000)]
    public int N { get; set; }

    [Params(PrecisionRecallArithmetic.Float32Verified, PrecisionRecallArithmetic.Float64)]
    public PrecisionRecallArithmetic Arithmetic { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        // Half the points share a few cluster centres, so the k-th neighbours are near and the sets overlap.
        using var scope = NewDisposeScope();
        var centres = rand(64, 2048).Times(0.6);
        real = Features(centres).MoveToOuterDisposeScope();
        generated = Features(centres).MoveToOuterDisposeScope();
    }

    Tensor Features(Tensor centres) =>
        centres[randint(centres.shape[0], [N])].Plus(randn(N, 2048).Times(0.3)).ClampMin(0);

    [Benchmark]
    public PrecisionRecallResult Compute() => PrecisionRecall.Compute(real, generated, arithmetic: Arithmetic);

    [GlobalCleanup]
    public void Cleanup()
    {
        real.Dispose();
        generated.Dispose();
    }
}
