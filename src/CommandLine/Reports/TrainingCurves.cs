using ScottPlot;

namespace ImprovedDdpm;

/// <summary>The plots of a run: its schedule, its training curves and its bound per timestep.</summary>
public static class TrainingCurves
{
    const int Width = 900, Height = 540;

    /// <summary>
    /// The training loss against the step on a log scale, with <c>mse</c> and <c>vb</c> when the run logs them, and
    /// the loss per quartile of t (the reference's <c>loss_q0</c>…<c>loss_q3</c>) as thin lines. Written atomically.
    /// </summary>
    /// <returns>False, writing nothing, when the log has no rows yet.</returns>
    public static bool SaveLossPng(ProgressCsv progress, string pngPath)
    {
        if (progress.Rows.Count == 0) return false;
        var plot = LogPlot("Training loss", "step", "loss (log scale)");
        var index = 0;
        var terms = Enum.GetValues<LossTerm>().Select(term => (TrainingLogColumns.Of(term), true));
        var lossQuartiles = Enumerable.Range(0, 4).Select(q => (TrainingLogColumns.Of(LossTerm.Loss, q), false));
        foreach (var (column, thick) in terms.Concat(lossQuartiles))
        {
            var (steps, values) = progress.Series(column);
            AddLogLine(plot, steps, values, column, index++, thick ? 2 : 1);
        }
        Save(plot, pngPath);
        return true;
    }

    /// <summary>
    /// ᾱ_t against t/T for the linear and the cosine schedule (the paper's first figure) and for
    /// <paramref name="alphasCumprod"/>, a model's own, drawn over them.
    /// </summary>
    public static void SaveSchedulesPng(IReadOnlyList<double> alphasCumprod, string modelName, string pngPath)
    {
        var steps = alphasCumprod.Count;
        var xs = Enumerable.Range(1, steps).Select(t => (double)t / steps).ToArray();
        var plot = new Plot();
        var index = 0;
        foreach (var schedule in new[] { NoiseSchedule.Linear, NoiseSchedule.Cosine })
        {
            var alphaBar = 1.0;
            var line = plot.Add.ScatterLine(xs, BetaSchedules.Create(schedule, steps).Select(beta => alphaBar *= 1 - beta).ToArray(), Palette.GetColor(index++));
            line.LegendText = schedule.ToString().ToLowerInvariant();
            line.LineWidth = 2;
        }
        var own = plot.Add.ScatterLine(xs, alphasCumprod.ToArray(), Colors.Black);
        own.LegendText = modelName;
        own.LineWidth = 1;
        own.LinePattern = LinePattern.Dashed;
        plot.Title($"Noise schedules, T = {steps}");
        plot.Axes.Bottom.Label.Text = "t / T";
        plot.Axes.Left.Label.Text = "alpha_bar_t";
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, pngPath);
    }

    /// <summary>
    /// The bound's term per timestep in bits/dim (log scale) from <c>nll</c>'s <c>--terms-csv</c>: where the
    /// likelihood is spent (the paper's second figure).
    /// </summary>
    /// <returns>False, writing nothing, when the file has no rows.</returns>
    public static bool SaveVlbTermsPng(ProgressCsv terms, string pngPath)
    {
        if (terms.Rows.Count == 0) return false;
        var plot = LogPlot("Variational bound per timestep", "t", "bits/dim (log scale)");
        var (t, vb) = terms.Series("vb_bpd", "t");
        AddLogLine(plot, t, vb, "L_t", 0, 2);
        Save(plot, pngPath);
        return true;
    }

    static readonly ScottPlot.Palettes.Category10 Palette = new();

    static Plot LogPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.Axes.Bottom.Label.Text = x;
        plot.Axes.Left.Label.Text = y;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => $"{Math.Pow(10, v):G3}" };
        plot.ShowLegend(Alignment.UpperRight);
        return plot;
    }

    /// <summary>A line of the positive values on the log-scaled plot (ScottPlot draws log10 of them under powers of ten).</summary>
    static void AddLogLine(Plot plot, double[] xs, double[] ys, string name, int colour, float width)
    {
        var positive = xs.Zip(ys).Where(p => p.Second > 0).ToArray();
        if (positive.Length == 0) return;
        var line = plot.Add.ScatterLine(positive.Select(p => p.First).ToArray(), positive.Select(p => Math.Log10(p.Second)).ToArray(), Palette.GetColor(colour));
        line.LegendText = name;
        line.LineWidth = width;
    }

    static void Save(Plot plot, string pngPath) =>
        AtomicFile.Write(pngPath, stream => stream.Write(plot.GetImageBytes(Width, Height, ImageFormat.Png)));
}
