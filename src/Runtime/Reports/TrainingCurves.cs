using ScottPlot;

namespace ImprovedDdpm;

/// <summary>Plots of a run's <c>progress.csv</c>.</summary>
public static class TrainingCurves
{
    /// <summary>
    /// The training loss against the step on a log scale, with <c>mse</c> and <c>vb</c> when the run logs them, and
    /// the loss per quartile of t (the reference's <c>loss_q0</c>…<c>loss_q3</c>) as thin lines. Written atomically.
    /// </summary>
    /// <returns>False, writing nothing, when the log has no rows yet.</returns>
    public static bool SaveLossPng(ProgressCsv progress, string pngPath, int width = 900, int height = 540)
    {
        if (progress.Rows.Count == 0) return false;
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var index = 0;
        foreach (var (column, thick) in new[] { ("loss", true), ("mse", true), ("vb", true), ("loss_q0", false), ("loss_q1", false), ("loss_q2", false), ("loss_q3", false) })
        {
            var (steps, values) = progress.Series(column);
            var positive = steps.Zip(values).Where(p => p.Second > 0).ToArray();
            if (positive.Length == 0) continue;
            var line = plot.Add.ScatterLine(positive.Select(p => p.First).ToArray(), positive.Select(p => Math.Log10(p.Second)).ToArray(), palette.GetColor(index++));
            line.LegendText = column;
            line.LineWidth = thick ? 2 : 1;
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = y => $"{Math.Pow(10, y):G3}" };
        plot.Axes.Left.Label.Text = "loss (log scale)";
        plot.Axes.Bottom.Label.Text = "step";
        plot.Title("Training loss");
        plot.ShowLegend(Alignment.UpperRight);
        AtomicFile.Write(pngPath, stream => stream.Write(plot.GetImageBytes(width, height, ImageFormat.Png)));
        return true;
    }
}
