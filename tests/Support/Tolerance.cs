using System.Globalization;
using TorchSharp;

namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// The manifest's pass rule: |ours − ref| ≤ abs + rel·|ref|, element-wise. Failures name the fixture, the
/// quantity, the first offending index and the worst ratio; every comparison is logged to
/// $IMPROVED_DDPM_ERROR_REPORT (when set) so the largest error per fixture can be reported.
/// </summary>
public sealed record Tolerance(string File, double Rel, double Abs)
{
    static readonly object ReportLock = new();

    /// <param name="allowance">An error already accepted upstream, per element, added to the tolerance (see its caller's reason).</param>
    public void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<double> actual, string quantity, IReadOnlyList<double>? allowance = null)
    {
        Assert.True(expected.Count == actual.Count,
            $"{File} / {quantity}: expected {expected.Count} values, got {actual.Count}");
        var worstRatio = 0.0;
        var worstAbs = 0.0;
        var firstBad = -1;
        for (var i = 0; i < expected.Count; i++)
        {
            var error = Math.Abs(actual[i] - expected[i]);
            var allowed = Abs + Rel * Math.Abs(expected[i]) + (allowance?[i] ?? 0.0);
            var ratio = allowed > 0 ? error / allowed : (error == 0 ? 0 : double.PositiveInfinity);
            if (double.IsNaN(actual[i]) != double.IsNaN(expected[i])) ratio = double.PositiveInfinity;
            else if (double.IsNaN(actual[i])) ratio = 0;
            if (ratio > 1 && firstBad < 0) firstBad = i;
            if (ratio > worstRatio) { worstRatio = ratio; worstAbs = error; }
        }
        Report(quantity, worstAbs, worstRatio);
        if (firstBad >= 0)
        {
            Assert.Fail(string.Create(CultureInfo.InvariantCulture,
                $"{File} / {quantity}: element {firstBad} is {actual[firstBad]:R}, reference {expected[firstBad]:R} " +
                $"(tolerance rel {Rel}, abs {Abs}); worst error/allowed = {worstRatio:G4}"));
        }
    }

    public void AssertClose(FixtureTensor expected, torch.Tensor actual, string quantity, IReadOnlyList<double>? allowance = null)
    {
        Assert.True(expected.Shape.SequenceEqual(actual.shape),
            $"{File} / {quantity}: shape [{string.Join(",", actual.shape)}], reference [{string.Join(",", expected.Shape)}]");
        AssertClose(expected.Values, ToDoubles(actual), quantity, allowance);
    }

    public static double[] ToDoubles(torch.Tensor tensor)
    {
        using var flat = tensor.detach().cpu().to(torch.float64).contiguous().flatten();
        return flat.data<double>().ToArray();
    }

    void Report(string quantity, double worstAbs, double worstRatio)
    {
        var path = Environment.GetEnvironmentVariable("IMPROVED_DDPM_ERROR_REPORT");
        if (string.IsNullOrEmpty(path)) return;
        lock (ReportLock)
        {
            System.IO.File.AppendAllText(path, string.Create(CultureInfo.InvariantCulture,
                $"{File}\t{quantity}\t{worstAbs:G4}\t{worstRatio:G4}\n"));
        }
    }
}
