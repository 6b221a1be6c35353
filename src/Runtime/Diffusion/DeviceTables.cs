using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>The tables the engine gathers from, by name.</summary>
enum Table
{
    AlphasCumprod,
    AlphasCumprodPrev,
    AlphasCumprodNext,
    SqrtAlphasCumprod,
    SqrtOneMinusAlphasCumprod,
    OneMinusAlphasCumprod,
    LogOneMinusAlphasCumprod,
    SqrtRecipAlphasCumprod,
    SqrtRecipm1AlphasCumprod,
    PosteriorVariance,
    PosteriorLogVarianceClipped,
    PosteriorMeanCoef1,
    PosteriorMeanCoef2,
    RecipPosteriorMeanCoef1,
    PosteriorMeanCoef2OverCoef1,
    LogBetas,
    FixedLargeVariance,
    FixedLargeLogVariance,
    /// <summary>int64: the original timestep of each step.</summary>
    TimestepMap,
}

/// <summary>
/// The float64 tables as tensors, made once per device and kept outside every dispose scope, so the loops gather
/// from tensors already where the images are (no per-step host-to-device copies). Derived tables are computed in
/// float64 from the base tables, as the reference computes them in NumPy before gathering.
/// </summary>
sealed class DeviceTables(DiffusionTables tables, int[] timestepMap)
{
    readonly ConcurrentDictionary<(Table, string), Tensor> cache = new();

    public Tensor Get(Table table, Device device) => cache.GetOrAdd((table, device.ToString()), key =>
    {
        var values = key.Item1 == Table.TimestepMap
            ? tensor(timestepMap.Select(v => (long)v).ToArray(), device: device)
            : tensor(Values(key.Item1), ScalarType.Float64, device);
        return values.DetachFromDisposeScope();
    });

    double[] Values(Table table)
    {
        var n = tables.NumTimesteps;
        // FixedLarge uses β_t, except at t = 0 where it uses the posterior variance of t = 1.
        double FixedLarge(int i) => i == 0 ? tables.PosteriorVariance[1] : tables.Betas[i];
        return table switch
        {
            Table.AlphasCumprod => tables.AlphasCumprod,
            Table.AlphasCumprodPrev => tables.AlphasCumprodPrev,
            Table.AlphasCumprodNext => tables.AlphasCumprodNext,
            Table.SqrtAlphasCumprod => tables.SqrtAlphasCumprod,
            Table.SqrtOneMinusAlphasCumprod => tables.SqrtOneMinusAlphasCumprod,
            Table.OneMinusAlphasCumprod => Map(n, i => 1.0 - tables.AlphasCumprod[i]),
            Table.LogOneMinusAlphasCumprod => tables.LogOneMinusAlphasCumprod,
            Table.SqrtRecipAlphasCumprod => tables.SqrtRecipAlphasCumprod,
            Table.SqrtRecipm1AlphasCumprod => tables.SqrtRecipm1AlphasCumprod,
            Table.PosteriorVariance => tables.PosteriorVariance,
            Table.PosteriorLogVarianceClipped => tables.PosteriorLogVarianceClipped,
            Table.PosteriorMeanCoef1 => tables.PosteriorMeanCoef1,
            Table.PosteriorMeanCoef2 => tables.PosteriorMeanCoef2,
            Table.RecipPosteriorMeanCoef1 => Map(n, i => 1.0 / tables.PosteriorMeanCoef1[i]),
            Table.PosteriorMeanCoef2OverCoef1 => Map(n, i => tables.PosteriorMeanCoef2[i] / tables.PosteriorMeanCoef1[i]),
            Table.LogBetas => Map(n, i => Math.Log(tables.Betas[i])),
            Table.FixedLargeVariance => Map(n, FixedLarge),
            Table.FixedLargeLogVariance => Map(n, i => Math.Log(FixedLarge(i))),
            _ => throw new ArgumentOutOfRangeException(nameof(table), table, null),
        };
    }

    static double[] Map(int n, Func<int, double> f)
    {
        var values = new double[n];
        for (var i = 0; i < n; i++) values[i] = f(i);
        return values;
    }
}
