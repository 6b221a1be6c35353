using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>How <see cref="PrecisionRecall"/> computes squared distances.</summary>
public enum PrecisionRecallArithmetic
{
    /// <summary>
    /// Float32 matrix products filter, float64 verifies: every decision a float32 distance cannot settle within its
    /// proven rounding bound is recomputed in float64, so the decisions are those of the float64 distances at about
    /// the cost of float32 products. CPU only; other devices, non-finite float32 values and very long features take
    /// <see cref="Float64"/>.
    /// </summary>
    Float32Verified,

    /// <summary>Every distance as a float64 matrix product, on the features' device.</summary>
    Float64,
}

public static partial class PrecisionRecall
{
    /// <summary>
    /// The float32-filter, float64-verify path. A float32 distance d̂ of two points, compared with the float64 value d
    /// the decision is defined by, obeys |d̂ − d| ≤ E(n, m), n and m being the points' (centred) norms; a decision
    /// d ≤ r is certain when d̂ + E ≤ r or d̂ − E &gt; r, and otherwise d is computed in float64 as Σ(aᵢ − bᵢ)² from the
    /// original features. Radii: per row, t = the (k+1)-th smallest d̂ + E bounds the radius from above, so every
    /// point with d̂ − E ≤ t is a candidate and the float64 (k+1)-th smallest of the candidates is the radius.
    /// </summary>
    /// <remarks>
    /// The bound, with u = 2⁻²⁴ and γ_D = D·u / (1 − D·u) (Higham, Accuracy and Stability of Numerical Algorithms,
    /// §3.1: any order of summing D products, fused or not): features are centred on a common mean in float64 and
    /// rounded to float32 (relative error ≤ u per entry, which moves |x − y|² by ≤ (2u + u²)(n + m)²); only the
    /// float32 product x·y is float32 (error ≤ γ_D·n·m, doubled in −2x·y), the squared norms and the sum being float64.
    /// Everything float64 — norms, the sum, the verified Σ(aᵢ − bᵢ)², d̂ ± E itself — errs by ≈ (D + 4)·2⁻⁵³(n + m)²,
    /// far inside the 10⁻¹⁰(n + m)² added; the float32 terms carry a 1 % margin for the norms being float64 estimates.
    /// This assumes an IEEE float32 matrix product (no reduced-precision modes), which is libtorch's CPU default.
    /// guided-diffusion's evaluator instead computes its distances in float16 (float32 when float16 overflows) and
    /// lets the rounding decide near-ties.
    /// </remarks>
    static class Filtered
    {
        const double Unit = 1.0 / (1 << 24);
        const int MaximumDimension = 1 << 17; // D·u ≤ 1/128, so γ_D stays a small multiple of D·u

        /// <summary>Whether the filtered path can take features of this layout; otherwise the float64 path does.</summary>
        public static bool Applies(Tensor a, Tensor b) =>
            a.device_type == DeviceType.CPU && b.device_type == DeviceType.CPU && a.shape[1] <= MaximumDimension;

        /// <summary>Radii of one set, as <see cref="Radii"/> defines them, in float64.</summary>
        public static double[] Radii(FilterSet set, int k, int batchSize)
        {
            var n = set.Count;
            var radii = new double[n];
            var bound = new DistanceBound(set.Dimension);
            var block = new float[(long)Math.Min(batchSize, n) * Math.Min(batchSize, n)];
            for (var i0 = 0; i0 < n; i0 += batchSize)
            {
                var rows = Math.Min(batchSize, n - i0);
                var best = new double[rows * (k + 1)]; // per row the k + 1 smallest upper bounds so far, ascending
                Array.Fill(best, double.PositiveInfinity);
                var candidates = new List<(int Column, double Lower)>[rows];
                for (var r = 0; r < rows; r++) candidates[r] = [];
                for (var j0 = 0; j0 < n; j0 += batchSize)
                {
                    var columns = Math.Min(batchSize, n - j0);
                    set.Products(i0, rows, set, j0, columns, block);
                    Parallel.For(0, rows, r =>
                    {
                        var i = i0 + r;
                        var (rowSquare, rowNorm) = (set.SquaredNorms[i], set.Norms[i]);
                        var nearest = best.AsSpan(r * (k + 1), k + 1);
                        var offset = (long)r * columns;
                        for (var c = 0; c < columns; c++)
                        {
                            var j = j0 + c;
                            var upper = rowSquare - 2.0 * block[offset + c] + set.SquaredNorms[j] + bound.Of(rowNorm, set.Norms[j]);
                            if (upper < nearest[k]) Insert(nearest, upper);
                        }
                        var threshold = nearest[k];
                        for (var c = 0; c < columns; c++)
                        {
                            var j = j0 + c;
                            var lower = rowSquare - 2.0 * block[offset + c] + set.SquaredNorms[j] - bound.Of(rowNorm, set.Norms[j]);
                            if (lower <= threshold) candidates[r].Add((j, lower));
                        }
                    });
                }
                Parallel.For(0, rows, r =>
                {
                    var i = i0 + r;
                    var threshold = best[r * (k + 1) + k];
                    var exact = new List<double>();
                    foreach (var (j, lower) in candidates[r])
                        if (lower <= threshold) exact.Add(set.SquaredDistance(i, set, j));
                    exact.Sort();
                    radii[i] = exact[k];
                });
            }
            return radii;
        }

        /// <summary>
        /// Which real points lie in some generated ball and which generated points in some real ball, from one pass
        /// over the real × generated blocks, as the float64 path does.
        /// </summary>
        public static (bool[] RealInside, bool[] GeneratedInside) Inside(FilterSet real, double[] realRadii, FilterSet generated, double[] generatedRadii, int batchSize)
        {
            var (n, m) = (real.Count, generated.Count);
            var bound = new DistanceBound(real.Dimension);
            var realInside = new bool[n];
            var generatedInside = new bool[m];
            var realPending = new List<int>?[n];      // generated balls real point i may lie in
            var generatedPending = new List<int>?[n]; // generated points that may lie in real ball i
            var block = new float[(long)Math.Min(batchSize, n) * Math.Min(batchSize, m)];
            for (var i0 = 0; i0 < n; i0 += batchSize)
            {
                var rows = Math.Min(batchSize, n - i0);
                for (var j0 = 0; j0 < m; j0 += batchSize)
                {
                    var columns = Math.Min(batchSize, m - j0);
                    real.Products(i0, rows, generated, j0, columns, block);
                    Parallel.For(0, rows, r =>
                    {
                        var i = i0 + r;
                        var (rowSquare, rowNorm, rowRadius) = (real.SquaredNorms[i], real.Norms[i], realRadii[i]);
                        var offset = (long)r * columns;
                        for (var c = 0; c < columns; c++)
                        {
                            var j = j0 + c;
                            var distance = rowSquare - 2.0 * block[offset + c] + generated.SquaredNorms[j];
                            var error = bound.Of(rowNorm, generated.Norms[j]);
                            var (lower, upper) = (distance - error, distance + error);
                            // Writes of true from several rows' threads to one generated point are benign.
                            if (!realInside[i])
                            {
                                if (upper <= generatedRadii[j]) realInside[i] = true;
                                else if (lower <= generatedRadii[j]) (realPending[i] ??= []).Add(j);
                            }
                            if (!generatedInside[j])
                            {
                                if (upper <= rowRadius) generatedInside[j] = true;
                                else if (lower <= rowRadius) (generatedPending[i] ??= []).Add(j);
                            }
                        }
                    });
                }
            }
            // The undecided: a point is inside if any of its pending pairs is, in float64.
            Parallel.For(0, n, i =>
            {
                if (realInside[i] || realPending[i] is not { } balls) return;
                foreach (var j in balls)
                    if (real.SquaredDistance(i, generated, j) <= generatedRadii[j]) { realInside[i] = true; return; }
            });
            var byGenerated = new Dictionary<int, List<int>>();
            for (var i = 0; i < n; i++)
                foreach (var j in generatedPending[i] ?? [])
                    if (!generatedInside[j])
                    {
                        if (!byGenerated.TryGetValue(j, out var balls)) byGenerated[j] = balls = [];
                        balls.Add(i);
                    }
            Parallel.ForEach(byGenerated, pending =>
            {
                foreach (var i in pending.Value)
                    if (real.SquaredDistance(i, generated, pending.Key) <= realRadii[i]) { generatedInside[pending.Key] = true; return; }
            });
            return (realInside, generatedInside);
        }

        /// <summary>Inserts <paramref name="value"/> into the ascending <paramref name="nearest"/>, dropping its largest.</summary>
        static void Insert(Span<double> nearest, double value)
        {
            var p = nearest.Length - 1;
            for (; p > 0 && nearest[p - 1] > value; p--) nearest[p] = nearest[p - 1];
            nearest[p] = value;
        }
    }

    /// <summary>
    /// E(n, m) = 2.02·γ_D·n·m + (1.01·(2u + u²) + 10⁻¹⁰)·(n + m)² + 2(D + 2)·2⁻¹⁴⁹, bounding |d̂ − d| for centred norms n
    /// and m (see <see cref="Filtered"/>; the last term covers float32 products that underflow).
    /// </summary>
    readonly struct DistanceBound
    {
        readonly double product, square, floor;

        public DistanceBound(long dimension)
        {
            const double u = 1.0 / (1 << 24);
            var gamma = dimension * u / (1 - dimension * u);
            product = 2.02 * gamma;
            square = 1.01 * (2 * u + u * u) + 1e-10;
            floor = 2 * (dimension + 2) * Math.ScaleB(1, -149);
        }

        public double Of(double n, double m) => product * n * m + square * (n + m) * (n + m) + floor;
    }

    /// <summary>
    /// One feature set as the filtered path needs it: the original rows (float32 or float64, as given) for verification,
    /// and once centred (<see cref="CentreOn"/>) float32 rows for the products and float64 norms for distances and bounds.
    /// Centring and norms are plain loops: elementwise tensor passes over fresh N × D buffers cost more than the data.
    /// </summary>
    sealed class FilterSet : IDisposable
    {
        readonly float[]? single;  // the original features, row-major, when they are float32 (or narrower)
        readonly double[]? wide;   // ... or float64
        Tensor? centred;           // float32 [N, D]
        readonly Dictionary<(int, int), Tensor> products = [];

        public int Count { get; }
        public int Dimension { get; }
        /// <summary>|x′|² of each float32 centred row, summed in float64.</summary>
        public double[] SquaredNorms { get; }
        /// <summary>|x − μ| of each row in float64: the bound's n.</summary>
        public double[] Norms { get; }

        public FilterSet(Tensor features)
        {
            (Count, Dimension) = checked(((int)features.shape[0], (int)features.shape[1]));
            using var scope = NewDisposeScope();
            var dense = features.contiguous();
            if (dense.dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16) // widening to float32 is exact
                single = MemoryMarshal.Cast<byte, float>(dense.to_type(ScalarType.Float32).bytes).ToArray();
            else
                wide = MemoryMarshal.Cast<byte, double>(dense.to_type(ScalarType.Float64).bytes).ToArray();
            SquaredNorms = new double[Count];
            Norms = new double[Count];
        }

        /// <summary>The float64 mean of all rows of all sets, summed in row order.</summary>
        public static double[] Mean(params FilterSet[] sets)
        {
            var mean = new double[sets[0].Dimension];
            foreach (var set in sets)
                for (var i = 0; i < set.Count; i++)
                    for (var d = 0; d < mean.Length; d++) mean[d] += set.At(i, d);
            var count = sets.Sum(set => set.Count);
            for (var d = 0; d < mean.Length; d++) mean[d] /= count;
            return mean;
        }

        /// <summary>
        /// Rounds x − μ (float64) to float32 and takes both norms. False, leaving the decisions to the float64 path, if a
        /// value is not finite or a product might overflow float32 (|x′·y′| ≤ |x′||y′| stays below 10³⁷ otherwise).
        /// </summary>
        public bool CentreOn(double[] centre)
        {
            var values = new float[(long)Count * Dimension];
            var finite = true;
            Parallel.For(0, Count, i =>
            {
                double norm = 0, roundedNorm = 0;
                for (var d = 0; d < Dimension; d++)
                {
                    var shifted = At(i, d) - centre[d];
                    var rounded = (float)shifted;
                    values[(long)i * Dimension + d] = rounded;
                    norm += shifted * shifted;
                    roundedNorm += (double)rounded * rounded;
                }
                Norms[i] = Math.Sqrt(norm);
                SquaredNorms[i] = roundedNorm;
                if (!(roundedNorm < 1e37)) finite = false; // NaN too
            });
            centred = tensor(values, [Count, Dimension]);
            return finite;
        }

        double At(int i, int d) => single is { } a ? a[i * Dimension + d] : wide![i * Dimension + d];

        /// <summary>
        /// The float32 products of rows [i, i + rows) with <paramref name="other"/>'s [j, j + columns), into block
        /// (through one product tensor per block shape, reused).
        /// </summary>
        public void Products(int i, int rows, FilterSet other, int j, int columns, float[] block)
        {
            using var scope = NewDisposeScope();
            if (!products.TryGetValue((rows, columns), out var product))
                products[(rows, columns)] = product = empty(rows, columns, ScalarType.Float32).MoveToOuterDisposeScope();
            product.addmm_(centred![TensorIndex.Slice(i, i + rows)], other.centred![TensorIndex.Slice(j, j + columns)].T, beta: 0, alpha: 1);
            MemoryMarshal.Cast<byte, float>(product.bytes).CopyTo(block);
        }

        /// <summary>
        /// Σ(aᵢ − bᵢ)² of original row i and <paramref name="other"/>'s row j in float64, summed in index order, so equal
        /// rows give bitwise equal distances wherever they sit.
        /// </summary>
        public double SquaredDistance(int i, FilterSet other, int j) => (single, other.single) switch
        {
            ({ } a, { } b) => Sum<float, float>(a.AsSpan(i * Dimension, Dimension), b.AsSpan(j * Dimension, Dimension)),
            ({ } a, null) => Sum<float, double>(a.AsSpan(i * Dimension, Dimension), other.wide.AsSpan(j * Dimension, Dimension)),
            (null, { } b) => Sum<double, float>(wide.AsSpan(i * Dimension, Dimension), b.AsSpan(j * Dimension, Dimension)),
            _ => Sum<double, double>(wide.AsSpan(i * Dimension, Dimension), other.wide.AsSpan(j * Dimension, Dimension)),
        };

        static double Sum<TA, TB>(ReadOnlySpan<TA> a, ReadOnlySpan<TB> b) where TA : INumberBase<TA> where TB : INumberBase<TB>
        {
            var sum = 0.0;
            for (var d = 0; d < a.Length; d++)
            {
                var difference = double.CreateTruncating(a[d]) - double.CreateTruncating(b[d]);
                sum += difference * difference;
            }
            return sum;
        }

        public void Dispose()
        {
            centred?.Dispose();
            foreach (var product in products.Values) product.Dispose();
        }
    }
}
