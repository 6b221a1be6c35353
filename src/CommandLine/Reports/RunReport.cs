using System.Globalization;
using System.Net;
using System.Text;

namespace ImprovedDdpm;

/// <summary>What <see cref="RunReport.Write"/> made: the page and every picture on it.</summary>
public sealed record RunReportFiles(string Html, IReadOnlyList<string> Pictures);

/// <summary>
/// The pictures of a model and its run, as PNGs and one self-contained HTML page (the PNGs embedded): the noise
/// schedules, the training curves of the run's <c>progress.csv</c>, the bound per timestep from <c>nll</c>'s terms,
/// and grids of sample files.
/// </summary>
public static class RunReport
{
    /// <param name="runDirectory">A run folder of <c>train</c>; its <c>progress.csv</c>, <c>nll_terms.csv</c> and
    /// <c>*.npz</c> samples are used when present.</param>
    /// <param name="nllTerms">Per-step terms written by <c>nll --terms-csv</c>, if not in the run folder.</param>
    /// <param name="samples">Sample files (<c>.npz</c> as <c>sample</c> writes them) to show as grids.</param>
    /// <exception cref="DirectoryNotFoundException">The run folder does not exist.</exception>
    /// <exception cref="FileNotFoundException"><paramref name="nllTerms"/> was given but does not exist.</exception>
    /// <exception cref="InvalidDataException">The run's <c>progress.csv</c> or the terms file is there but cannot be read
    /// as one (not CSV, or without the columns plotted): its curves would be left out without a word.</exception>
    public static RunReportFiles Write(ModelDefinition model, string runDirectory, string outputDirectory, string? nllTerms = null, IReadOnlyList<string>? samples = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!Directory.Exists(runDirectory)) throw new DirectoryNotFoundException($"no run folder {runDirectory}");
        Directory.CreateDirectory(outputDirectory);
        var sections = new List<(string Title, string Png, string Caption)>();

        var schedules = Path.Combine(outputDirectory, "schedules.png");
        TrainingCurves.SaveSchedulesPng(model.CreateDiffusion("").Tables.AlphasCumprod, model.Name, schedules);
        sections.Add(("Noise schedule", schedules, "alpha_bar_t of the linear and cosine schedules, and of this model (dashed)."));

        var progress = ReadIfThere(Path.Combine(runDirectory, TrainLoop.ProgressFileName), "a progress.csv of train", TrainingLogColumns.Step, TrainingLogColumns.Of(LossTerm.Loss));
        var loss = Path.Combine(outputDirectory, LossCurveWriter.FileName);
        if (progress is not null && TrainingCurves.SaveLossPng(progress, loss))
            sections.Add(("Training loss", loss, "Interval means of progress.csv: loss, mse, vb, and the loss per quartile of t."));

        if (nllTerms is not null && !File.Exists(nllTerms))
            throw new FileNotFoundException($"--nll-terms {nllTerms} does not exist", nllTerms);
        nllTerms ??= Path.Combine(runDirectory, "nll_terms.csv");
        var vlb = Path.Combine(outputDirectory, "vlb_terms.png");
        if (ReadIfThere(nllTerms, "per-step terms of nll --terms-csv", "t", "vb_bpd") is { } terms && TrainingCurves.SaveVlbTermsPng(terms, vlb))
            sections.Add(("Bound per timestep", vlb, $"The terms L_t in bits/dim, from {Path.GetFileName(nllTerms)}."));

        var sampleFiles = (samples ?? []).Concat(Directory.EnumerateFiles(runDirectory, "*.npz").Order(StringComparer.Ordinal)).Distinct().ToList();
        foreach (var file in sampleFiles)
        {
            var set = SampleSet.Load(file);
            var grid = Path.Combine(outputDirectory, $"samples_{Path.GetFileNameWithoutExtension(file)}.png");
            AtomicFile.WriteFile(grid, temporary => SampleImages.SaveGridPng(temporary, set.Pixels, [set.Count, set.Height, set.Width, set.Channels]));
            sections.Add(($"Samples: {Path.GetFileName(file)}", grid, $"{set.Count} samples."));
        }

        var html = Path.Combine(outputDirectory, "report.html");
        AtomicFile.WriteAllText(html, Page(model, runDirectory, progress, sections));
        return new RunReportFiles(html, [.. sections.Select(s => s.Png)]);
    }

    /// <summary>
    /// The CSV at <paramref name="path"/>, or null if there is none; one that is there must have
    /// <paramref name="columns"/> in its header (it may have no rows yet).
    /// </summary>
    static ProgressCsv? ReadIfThere(string path, string what, params string[] columns)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path} is a folder, not {what}");
        if (!File.Exists(path)) return null;
        var csv = ProgressCsv.Read(path);
        if (csv.Columns.Count == 0) throw new InvalidDataException($"{path} is empty: it is not {what}");
        var missing = columns.Where(column => !csv.Columns.Contains(column)).ToList();
        if (missing.Count > 0)
        {
            var header = string.Join(",", csv.Columns);
            throw new InvalidDataException(
                $"{path} is not {what}: its first line \"{(header.Length > 60 ? header[..60] + "…" : header)}\" lacks the column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}");
        }
        return csv;
    }

    static string Page(ModelDefinition model, string runDirectory, ProgressCsv? progress, List<(string Title, string Png, string Caption)> sections)
    {
        static string E(string text) => WebUtility.HtmlEncode(text);
        var page = new StringBuilder();
        page.AppendLine("<!DOCTYPE html><html><head><meta charset=\"utf-8\">");
        page.AppendLine($"<title>{E(model.Name)}: {E(Path.GetFileName(Path.GetFullPath(runDirectory)))}</title>");
        page.AppendLine("<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}img{max-width:100%;image-rendering:pixelated}td{padding:0 1em 0 0}</style></head><body>");
        page.AppendLine($"<h1>{E(model.Name)}</h1><p>Run folder <code>{E(Path.GetFullPath(runDirectory))}</code></p><pre>{E(string.Join("\n", model.Summary))}</pre>");
        if (progress is { Rows.Count: > 0 })
        {
            var last = progress.Rows[^1];
            page.AppendLine("<h2>Last logged interval</h2><table>");
            foreach (var column in progress.Columns.Where(last.ContainsKey))
                page.AppendLine($"<tr><td>{E(column)}</td><td>{last[column].ToString("G6", CultureInfo.InvariantCulture)}</td></tr>");
            page.AppendLine("</table>");
        }
        foreach (var (title, png, caption) in sections)
        {
            page.AppendLine($"<h2>{E(title)}</h2><img alt=\"{E(title)}\" src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(png))}\"><p>{E(caption)}</p>");
        }
        page.AppendLine("</body></html>");
        return page.ToString();
    }
}
