using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>Improved precision and recall: the fractions of generated and of real samples on the other set's manifold.</summary>
public sealed record PrecisionRecallResult(double Precision, double Recall);

/// <summary>
/// Improved precision and recall (Kynkäänniemi et al., 2019), as guided-diffusion's evaluator <c>ManifoldEstimator</c>
/// computes them with k = 3. Each feature set's manifold is the union of balls around its points, a point's radius being
/// the squared distance to its k-th nearest neighbour in the same set (the point itself, at distance 0, not counted).
/// Precision is the fraction of generated features inside at least one real ball (distance ≤ radius), recall the
/// fraction of real features inside at least one generated ball.
/// </summary>
/// <remarks>
/// Squared distances are computed in blocks of <c>batchSize</c> × <c>batchSize</c>, so memory stays bounded for any N
/// (50k × 2048-D features need the features themselves plus a few blocks). The reference evaluator computes them in
/// float16 (float32 if that overflows), whose rounding can flip a decision that lies close to a ball's edge. Here the
/// decisions are those of float64 distances either way: <see cref="PrecisionRecallArithmetic.Float64"/> computes
/// |a|² − 2a·b + |b|² (clamped at 0) in float64 throughout, on the features' device;
/// <see cref="PrecisionRecallArithmetic.Float32Verified"/> (the default) filters with float32 products and their
/// proven rounding bound and recomputes in float64 only what that bound leaves undecided (see
/// <c>PrecisionRecall.Filtered</c>). Both reproduce exact NumPy distances to every decision in the fixtures.
/// </remarks>
public static partial class PrecisionRecall
{
    /// <summary>The neighbourhood size of the paper and of guided-diffusion's evaluator.</summary>
    public const int DefaultNeighbourhood = 3;

    /// <summary>Rows and columns per distance block (a 2048 × 2048 float64 block is 32 MiB).</summary>
    public const int DefaultBatchSize = 2048;

    /// <summary>Precision and recall of <paramref name="generated"/> [M, D] against <paramref name="real"/> [N, D].</summary>
    public static PrecisionRecallResult Compute(Tensor real, Tensor generated, int k = DefaultNeighbourhood, int batchSize = DefaultBatchSize,
        PrecisionRecallArithmetic arithmetic = PrecisionRecallArithmetic.Float32Verified)
    {
        ArgumentNullException.ThrowIfNull(real);
        ArgumentNullException.ThrowIfNull(generated);
        if (real.dim() != 2 || generated.dim() != 2 || real.shape[1] != generated.shape[1])
            throw new ArgumentException($"features must be [N, D] with the same D; got [{string.Join(", ", real.shape)}] and [{string.Join(", ", generated.shape)}]");
        CheckNeighbourhood(real, k, batchSize);
        CheckNeighbourhood(generated, k, batchSize);
        using var scope = NewDisposeScope();
        if (arithmetic == PrecisionRecallArithmetic.Float32Verified && Filtered.Applies(real, generated))
        {
            using var realSet = new FilterSet(real);
            using var generatedSet = new FilterSet(generated);
            var centre = FilterSet.Mean(realSet, generatedSet);
            if (realSet.CentreOn(centre) & generatedSet.CentreOn(centre))
            {
                var (realCovered, generatedCovered) = Filtered.Inside(
                    realSet, Filtered.Radii(realSet, k, batchSize), generatedSet, Filtered.Radii(generatedSet, k, batchSize), batchSize);
                return new PrecisionRecallResult(Fraction(generatedCovered), Fraction(realCovered));
            }
        }
        var realRadii = Radii(real, k, batchSize);
        var generatedRadii = Radii(generated, k, batchSize);
        var (n, m) = (real.shape[0], generated.shape[0]);
        var realInside = zeros(n, ScalarType.Bool, real.device);
        var generatedInside = zeros(m, ScalarType.Bool, real.device);
        // One pass over the blocks of real × generated distances decides both directions, as the reference does.
        for (long i = 0; i < n; i += batchSize)
        {
            using var rowScope = NewDisposeScope();
            var rows = Rows(real, i, batchSize);
            var rowRadii = realRadii[TensorIndex.Slice(i, i + rows.shape[0])];
            for (long j = 0; j < m; j += batchSize)
            {
                using var blockScope = NewDisposeScope();
                var columns = Rows(generated, j, batchSize);
                var distances = SquaredDistances(rows, columns);
                var columnRadii = generatedRadii[TensorIndex.Slice(j, j + columns.shape[0])];
                realInside[TensorIndex.Slice(i, i + rows.shape[0])].logical_or_(distances.le(columnRadii.unsqueeze(0)).any(1));
                generatedInside[TensorIndex.Slice(j, j + columns.shape[0])].logical_or_(distances.le(rowRadii.unsqueeze(1)).any(0));
            }
        }
        return new PrecisionRecallResult(
            generatedInside.to_type(ScalarType.Float64).mean().item<double>(),
            realInside.to_type(ScalarType.Float64).mean().item<double>());
    }

    /// <summary>From features as float64 arrays [N, D] and [M, D].</summary>
    public static PrecisionRecallResult Compute(double[,] real, double[,] generated, int k = DefaultNeighbourhood, int batchSize = DefaultBatchSize,
        PrecisionRecallArithmetic arithmetic = PrecisionRecallArithmetic.Float32Verified)
    {
        using var scope = NewDisposeScope();
        return Compute(tensor(real, ScalarType.Float64), tensor(generated, ScalarType.Float64), k, batchSize, arithmetic);
    }

    /// <summary>From float32 features, row-major [N, D] and [M, D] (as the Inception network gives them).</summary>
    public static PrecisionRecallResult Compute(float[] real, float[] generated, int dimension, int k = DefaultNeighbourhood, int batchSize = DefaultBatchSize,
        PrecisionRecallArithmetic arithmetic = PrecisionRecallArithmetic.Float32Verified)
    {
        ArgumentNullException.ThrowIfNull(real);
        ArgumentNullException.ThrowIfNull(generated);
        if (dimension < 1 || real.Length % dimension != 0 || generated.Length % dimension != 0)
            throw new ArgumentException($"{real.Length} and {generated.Length} values are not whole rows of {dimension}", nameof(dimension));
        using var scope = NewDisposeScope();
        return Compute(tensor(real, [real.Length / dimension, dimension]), tensor(generated, [generated.Length / dimension, dimension]), k, batchSize, arithmetic);
    }

    static double Fraction(bool[] inside) => (double)inside.Count(x => x) / inside.Length;

    static void CheckNeighbourhood(Tensor features, int k, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (features.dim() != 2) throw new ArgumentException($"features must be [N, D]; got [{string.Join(", ", features.shape)}]", nameof(features));
        if (features.shape[0] <= k) throw new ArgumentException($"{features.shape[0]} points have no {k}-th nearest neighbour besides themselves", nameof(features));
    }

    /// <summary>
    /// The squared radius of each point of <paramref name="features"/> [N, D]: the (k+1)-th smallest squared distance
    /// to the set, itself included (index k of the sorted row, as the reference's <c>np.partition</c>), as float64 [N].
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than k + 1 points.</exception>
    public static Tensor Radii(Tensor features, int k = DefaultNeighbourhood, int batchSize = DefaultBatchSize,
        PrecisionRecallArithmetic arithmetic = PrecisionRecallArithmetic.Float32Verified)
    {
        ArgumentNullException.ThrowIfNull(features);
        CheckNeighbourhood(features, k, batchSize);
        var n = features.shape[0];
        using var scope = NewDisposeScope();
        if (arithmetic == PrecisionRecallArithmetic.Float32Verified && Filtered.Applies(features, features))
        {
            using var set = new FilterSet(features);
            if (set.CentreOn(FilterSet.Mean(set))) return tensor(Filtered.Radii(set, k, batchSize), ScalarType.Float64).MoveToOuterDisposeScope();
        }
        var radii = empty(n, ScalarType.Float64, features.device);
        for (long i = 0; i < n; i += batchSize)
        {
            using var rowScope = NewDisposeScope();
            var rows = Rows(features, i, batchSize);
            Tensor? nearest = null; // the k + 1 smallest distances so far, ascending
            for (long j = 0; j < n; j += batchSize)
            {
                using var blockScope = NewDisposeScope();
                var distances = SquaredDistances(rows, Rows(features, j, batchSize));
                var candidates = nearest is null ? distances : cat([nearest, distances], 1);
                var (values, _) = candidates.topk(Math.Min(k + 1, (int)candidates.shape[1]), dim: 1, largest: false, sorted: true);
                nearest?.Dispose();
                nearest = values.MoveToOuterDisposeScope();
            }
            radii[TensorIndex.Slice(i, i + rows.shape[0])].copy_(nearest![TensorIndex.Colon, k]);
        }
        return radii.MoveToOuterDisposeScope();
    }

    static Tensor Rows(Tensor features, long start, int batchSize) =>
        features[TensorIndex.Slice(start, Math.Min(start + batchSize, features.shape[0]))].to_type(ScalarType.Float64);

    /// <summary>|a|² − 2a·bᵀ + |b|², clamped at 0 against rounding, [A, B].</summary>
    /// <remarks>
    /// No implicit <see cref="TorchSharp.Scalar"/> here (<c>square()</c>, <c>2 * t</c>, <c>clamp_(min: 0)</c> make one):
    /// TorchSharp 0.107 does not keep such a temporary alive during the native call, so a garbage collection in
    /// another thread can finalize it while libtorch reads it (a CI run failed "INTERNAL ASSERT FAILED at
    /// c10/core/Scalar.h" in <c>square()</c> on these multi-millisecond blocks; dotnet/TorchSharp#1434). The scalars are
    /// held by <c>using</c> until the calls are done. The arithmetic is bit for bit the expression above: −2·ab is
    /// exact, and |a|² + (−2ab) rounds as |a|² − 2ab does.
    /// </remarks>
    static Tensor SquaredDistances(Tensor a, Tensor b)
    {
        using var minusTwo = (-2.0).ToScalar();
        using var zero = 0.0.ToScalar();
        var normA = a.mul(a).sum(1, keepdim: true);
        var normB = b.mul(b).sum(1, keepdim: true).T;
        return a.matmul(b.T).mul_(minusTwo).PlusInPlace(normA).PlusInPlace(normB).clamp_(min: zero);
    }
}
