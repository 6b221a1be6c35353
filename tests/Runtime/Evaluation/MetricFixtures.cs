namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>
/// The metric fixtures in <c>tests/Fixtures/metrics</c>, written by <c>tools/fixtures/make_metric_fixtures.py</c> from
/// NumPy/SciPy: float64 <c>.npz</c> arrays, read at test time with the runtime's own <see cref="NpzReader"/>.
/// </summary>
static class MetricFixtures
{
    static readonly Lazy<string> Folder = new(Locate);

    public static string PathOf(string file) => Path.Combine(Folder.Value, file);

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

    /// <summary>tests/Fixtures/metrics in an ancestor of the test binaries (the repository the tests were built from).</summary>
    static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Fixtures", "metrics");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"Metric fixtures not found: no tests/Fixtures/metrics above {AppContext.BaseDirectory}.");
    }
}
