using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>
/// The float32-filter, float64-verify path against the float64 path and against a brute-force float64 reference
/// (Σ(aᵢ − bᵢ)² over every pair), on data built to sit on the balls' edges, where float32 alone decides wrongly.
/// </summary>
public sealed class FilteredPrecisionRecallTests
{
    const int K = PrecisionRecall.DefaultNeighbourhood;

    [Theory]
    [InlineData(2048)]
    [InlineData(37)] // several partial blocks
    [InlineData(2)]  // blocks narrower than k + 1
    public void Random_features_give_the_float64_decisions_and_radii(int batchSize)
    {
        // Non-negative with a common offset, like Inception pool3 features, so the norms dwarf the distances.
        var real = Random(301, 64, seed: 11, scale: 1, offset: 3);
        var generated = Random(257, 64, seed: 12, scale: 1.1, offset: 3.05);
        AssertAllPathsAgree(real, generated, batchSize);
    }

    [Theory]
    [InlineData(1e-9)]
    [InlineData(1e-7)]
    [InlineData(1e-5)]
    public void Points_just_inside_and_just_outside_a_ball_are_decided_as_in_float64(double relativeOffset)
    {
        var real = Random(200, 48, seed: 21, scale: 1, offset: 2);
        var generated = OnBallEdges(real, relativeOffset, seed: 22);
        var truth = BruteForce(real, generated);
        // The construction works: in float64 the inner copy of each edge point is inside, the outer one outside its ball.
        Assert.True(truth.GeneratedInside.Where((_, g) => g % 2 == 0).All(x => x));
        AssertAllPathsAgree(real, generated, batchSize: 64);
        if (relativeOffset <= 1e-7)
        {
            // ... and float32 distances alone would get some of them wrong, so the verification was needed.
            var naive = NaiveFloat32GeneratedInside(real, generated, truth.RealRadii);
            Assert.NotEqual(truth.GeneratedInside, naive);
        }
    }

    [Fact]
    public void Exact_ties_on_an_integer_lattice_are_inside()
    {
        // Integer coordinates: every distance is an exact integer in float64 whatever the order of summation, many are
        // equal to a radius exactly, and generated points reflected through a real point are at exactly its radius.
        var real = Lattice(120, 12, seed: 31);
        var generated = new double[240, 12];
        for (var g = 0; g < 120; g++)
            for (var d = 0; d < 12; d++)
            {
                generated[g, d] = real[g, d];                    // a duplicate: distance 0
                generated[120 + g, d] = 2 * real[g, d] - real[(g + 1) % 120, d]; // a reflection of a neighbour
            }
        AssertAllPathsAgree(real, generated, batchSize: 50);
        AssertAllPathsAgree(generated, real, batchSize: 50);
    }

    [Fact]
    public void Duplicated_points_have_zero_radii_and_contain_their_copies()
    {
        // Each real point four times, so every radius is 0 (the k-th neighbour is a copy); generated copies of some.
        // Not asserted of the float64 path: its |a|² − 2a·b + |b|² of two copies is rounding noise (≈ 1e-16·|a|²) that
        // differs with the copies' places in the blocks, so it leaves copies outside balls of radius 0 (or noise).
        var baseSet = Random(40, 32, seed: 41, scale: 1, offset: 1);
        var real = Repeat(baseSet, 160, offsetFrom: int.MaxValue);
        var generated = Repeat(baseSet, 60, offsetFrom: int.MaxValue);
        Assert.All(BruteForce(real, generated).RealRadii, r => Assert.Equal(0, r));
        AssertAllPathsAgree(real, generated, batchSize: 64, float64Path: false);
        AssertAllPathsAgree(generated, real, batchSize: 64, float64Path: false);
    }

    [Fact]
    public void Points_a_hair_off_a_duplicated_point_are_outside_its_zero_radius_ball()
    {
        // The last 20 generated points are 1e-9 off a real point, squared distance 1e-18: far below the float64
        // expansion's rounding (≈ 1e-16·|a|²), which cannot tell them from copies, but not below Σ(aᵢ − bᵢ)².
        var baseSet = Random(40, 32, seed: 41, scale: 1, offset: 1);
        var real = Repeat(baseSet, 160, offsetFrom: int.MaxValue);
        var generated = Repeat(baseSet, 60, offsetFrom: 40);
        var truth = BruteForce(real, generated);
        Assert.Equal(40, truth.GeneratedInside.Count(x => x));
        Assert.Equal(new PrecisionRecallResult(40.0 / 60, 1), PrecisionRecall.Compute(real, generated, batchSize: 64));
    }

    static double[,] Repeat(double[,] points, int count, int offsetFrom)
    {
        var (n, dim) = (points.GetLength(0), points.GetLength(1));
        var repeated = new double[count, dim];
        for (var i = 0; i < count; i++)
            for (var d = 0; d < dim; d++) repeated[i, d] = points[i % n, d] + (i >= offsetFrom && d == 0 ? 1e-9 : 0);
        return repeated;
    }

    [Fact]
    public void Float32_arrays_give_the_same_result_as_tensors()
    {
        var real = Random(150, 16, seed: 51, scale: 1, offset: 0);
        var generated = Random(170, 16, seed: 52, scale: 1.2, offset: 0.1);
        using var scope = NewDisposeScope();
        var realSingle = tensor(real).to_type(ScalarType.Float32);
        var generatedSingle = tensor(generated).to_type(ScalarType.Float32);
        var fromTensors = PrecisionRecall.Compute(realSingle, generatedSingle, arithmetic: PrecisionRecallArithmetic.Float64);
        var fromArrays = PrecisionRecall.Compute(realSingle.data<float>().ToArray(), generatedSingle.data<float>().ToArray(), 16);
        Assert.Equal(fromTensors, fromArrays);
    }

    static void AssertAllPathsAgree(double[,] real, double[,] generated, int batchSize, bool float64Path = true)
    {
        var truth = BruteForce(real, generated);
        var expected = new PrecisionRecallResult(truth.GeneratedInside.Count(x => x) / (double)truth.GeneratedInside.Length,
            truth.RealInside.Count(x => x) / (double)truth.RealInside.Length);
        Assert.Equal(expected, PrecisionRecall.Compute(real, generated, batchSize: batchSize));
        using var scope = NewDisposeScope();
        // The verified radius is the brute-force value itself.
        Assert.Equal(truth.RealRadii, PrecisionRecall.Radii(tensor(real), batchSize: batchSize).data<double>().ToArray());
        if (!float64Path) return;

        Assert.Equal(expected, PrecisionRecall.Compute(real, generated, batchSize: batchSize, arithmetic: PrecisionRecallArithmetic.Float64));
        var radii64 = PrecisionRecall.Radii(tensor(real), batchSize: batchSize, arithmetic: PrecisionRecallArithmetic.Float64).data<double>().ToArray();
        for (var i = 0; i < radii64.Length; i++) // the float64 expansion's rounding is relative to the norms
            Assert.True(Math.Abs(radii64[i] - truth.RealRadii[i]) <= 1e-12 * SquaredNorm(real, i), $"radius {i}: {radii64[i]:R} vs {truth.RealRadii[i]:R}");
    }

    /// <summary>Every pair's Σ(aᵢ − bᵢ)² in float64, radii as the (k+1)-th smallest, decisions distance ≤ radius.</summary>
    static (double[] RealRadii, bool[] RealInside, bool[] GeneratedInside) BruteForce(double[,] real, double[,] generated)
    {
        var realRadii = BruteRadii(real);
        var generatedRadii = BruteRadii(generated);
        var (n, m) = (real.GetLength(0), generated.GetLength(0));
        var realInside = new bool[n];
        var generatedInside = new bool[m];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < m; j++)
            {
                var d = Distance(real, i, generated, j);
                realInside[i] |= d <= generatedRadii[j];
                generatedInside[j] |= d <= realRadii[i];
            }
        return (realRadii, realInside, generatedInside);
    }

    static double[] BruteRadii(double[,] x) =>
        Enumerable.Range(0, x.GetLength(0))
            .Select(i => Enumerable.Range(0, x.GetLength(0)).Select(j => Distance(x, i, x, j)).Order().ElementAt(K))
            .ToArray();

    static double Distance(double[,] a, int i, double[,] b, int j)
    {
        var sum = 0.0;
        for (var d = 0; d < a.GetLength(1); d++) sum += (a[i, d] - b[j, d]) * (a[i, d] - b[j, d]);
        return sum;
    }

    static double SquaredNorm(double[,] a, int i)
    {
        var sum = 0.0;
        for (var d = 0; d < a.GetLength(1); d++) sum += a[i, d] * a[i, d];
        return sum;
    }

    /// <summary>
    /// For each real point, two generated points in a random direction at squared distance radius·(1 ∓ offset): the
    /// first just inside its ball, the second just outside.
    /// </summary>
    static double[,] OnBallEdges(double[,] real, double relativeOffset, int seed)
    {
        var radii = BruteRadii(real);
        var (n, dim) = (real.GetLength(0), real.GetLength(1));
        var random = new Random(seed);
        var generated = new double[2 * n, dim];
        for (var i = 0; i < n; i++)
        {
            var direction = Enumerable.Range(0, dim).Select(_ => random.NextDouble() - 0.5).ToArray();
            var length = Math.Sqrt(direction.Sum(v => v * v));
            for (var s = 0; s < 2; s++)
            {
                var distance = Math.Sqrt(radii[i] * (s == 0 ? 1 - relativeOffset : 1 + relativeOffset));
                for (var d = 0; d < dim; d++) generated[2 * i + s, d] = real[i, d] + distance * direction[d] / length;
            }
        }
        return generated;
    }

    /// <summary>The reference evaluator's float32 fallback: |a|² − 2a·b + |b|² in float32, compared with the radii.</summary>
    static bool[] NaiveFloat32GeneratedInside(double[,] real, double[,] generated, double[] realRadii)
    {
        using var scope = NewDisposeScope();
        var a = tensor(real).to_type(ScalarType.Float32);
        var b = tensor(generated).to_type(ScalarType.Float32);
        // Scalars held for the calls: see PrecisionRecall.SquaredDistances.
        using var minusTwo = (-2.0).ToScalar();
        using var zero = 0.0.ToScalar();
        var distances = a.matmul(b.T).mul_(minusTwo).add_(a.mul(a).sum(1, keepdim: true)).add_(b.mul(b).sum(1, keepdim: true).T).clamp_(min: zero);
        var radii = tensor(realRadii).to_type(ScalarType.Float32);
        return distances.le(radii.unsqueeze(1)).any(0).data<bool>().ToArray();
    }

    static double[,] Random(int n, int d, int seed, double scale, double offset)
    {
        var random = new Random(seed);
        var features = new double[n, d];
        for (var i = 0; i < n; i++) for (var j = 0; j < d; j++) features[i, j] = offset + scale * random.NextDouble();
        return features;
    }

    static double[,] Lattice(int n, int d, int seed)
    {
        var random = new Random(seed);
        var features = new double[n, d];
        for (var i = 0; i < n; i++) for (var j = 0; j < d; j++) features[i, j] = random.Next(0, 4);
        return features;
    }
}
