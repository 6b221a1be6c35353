using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>
/// The metric fixtures in <c>tests/Fixtures/metrics</c>, written by <c>tools/fixtures/make_metric_fixtures.py</c> from
/// NumPy/SciPy: float64 <c>.npz</c> arrays, read at test time with the runtime's own <see cref="NpzReader"/>.
/// </summary>
static class MetricFixtures
{
    public static string PathOf(string file) => RepositoryFixtures.PathOf("metrics", file);

    /// <summary>Every array of <paramref name="file"/>, with its shape.</summary>
    public static IReadOnlyDictionary<string, (double[] Values, long[] Shape)> Read(string file)
    {
        using var npz = new NpzReader(PathOf(file));
        return npz.Names.ToDictionary(name => name, name => (npz.ReadFloat64(name, out var header), header.Shape));
    }

    public static double Scalar(this IReadOnlyDictionary<string, (double[] Values, long[] Shape)> arrays, string name) =>
        arrays[name].Values.Single();

    public static double[,] Matrix(this IReadOnlyDictionary<string, (double[] Values, long[] Shape)> arrays, string name)
    {
        var (values, shape) = arrays[name];
        var matrix = new double[shape[0], shape[1]];
        Buffer.BlockCopy(values, 0, matrix, 0, values.Length * sizeof(double));
        return matrix;
    }
}
