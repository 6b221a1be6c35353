using System.Globalization;
using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary><c>report</c> draws every plot of a run folder and embeds them in one HTML page.</summary>
public sealed class ReportCommandTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-report-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>A run folder as train, nll and sample leave it: a progress log, per-step terms and a sample file.</summary>
    string FixtureRun()
    {
        var run = Directory.CreateDirectory(Path.Combine(folder, "run")).FullName;
        var log = new CsvProgressLog(Path.Combine(run, TrainLoop.ProgressFileName));
        for (var step = 9; step < 200; step += 10)
        {
            var loss = 1.0 / Math.Sqrt(step + 1);
            TermAverages Term(double scale) => new(scale * loss, [2 * scale * loss, scale * loss, 0.7 * scale * loss, 0.5 * scale * loss]);
            log.Append(new TrainingLogRow(step, (step + 1) * 8, 100, 1e-4, GradNorm: 1, new Dictionary<LossTerm, TermAverages>
            {
                [LossTerm.Loss] = Term(1), [LossTerm.Mse] = Term(0.9), [LossTerm.Vb] = Term(0.1),
            }));
        }
        File.WriteAllLines(Path.Combine(run, "nll_terms.csv"),
            ["t,vb_bpd,xstart_mse", .. Enumerable.Range(0, 10).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t},{Math.Exp(-t)},{0.1 * t}"))]);
        var pixels = new byte[6 * 8 * 8 * 3];
        new Random(2).NextBytes(pixels);
        Npz.SaveSamples(Path.Combine(run, "samples_6x8x8x3.npz"), pixels, [6, 8, 8, 3]);
        return run;
    }

    [Fact]
    public void Every_plot_is_drawn_and_embedded_in_the_page()
    {
        var run = FixtureRun();
        var (code, text) = ToolRunner.Run(TinyFixed.Definition, "report", "--run-dir", run);
        Assert.True(code == 0, text);

        var output = Path.Combine(run, "report");
        string[] pictures = ["schedules.png", "loss.png", "vlb_terms.png", "samples_samples_6x8x8x3.png"];
        foreach (var name in pictures)
        {
            using var image = Image.Load<Rgb24>(Path.Combine(output, name));
            var colours = new HashSet<Rgb24>();
            image.ProcessPixelRows(rows =>
            {
                for (var y = 0; y < rows.Height; y++) foreach (var pixel in rows.GetRowSpan(y)) colours.Add(pixel);
            });
            Assert.True(colours.Count > 20, $"{name} has {colours.Count} colours: nothing drawn?");
        }
        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Equal(pictures.Length, html.Split("data:image/png;base64,").Length - 1);
        Assert.Contains("TinyFixed", html);
        Assert.Contains("grad_norm", html);
    }

    [Theory]
    [InlineData("not a csv\n", "lacks the columns step, loss")]
    [InlineData("", "is empty")]
    [InlineData("step,loss\n9,0.5\n19,0.4,7\n", "line 3 has 3 cells")]
    [InlineData(null, "is a folder")]
    public void An_unreadable_progress_log_is_an_error_naming_it(string? content, string expected)
    {
        var run = FixtureRun();
        var progress = Path.Combine(run, TrainLoop.ProgressFileName);
        File.Delete(progress);
        if (content is null) Directory.CreateDirectory(progress);
        else File.WriteAllText(progress, content);

        var (code, text) = ToolRunner.Run(TinyFixed.Definition, "report", "--run-dir", run);

        Assert.True(code == 1, text);
        Assert.Contains(progress, text);
        Assert.Contains(expected, text);
        Assert.DoesNotContain("wrote", text);
    }

    [Fact]
    public void Per_step_terms_that_are_not_there_are_an_error_naming_the_file()
    {
        var missing = Path.Combine(folder, "no-such-terms.csv");
        var (code, text) = ToolRunner.Run(TinyFixed.Definition, "report", "--run-dir", FixtureRun(), "--nll-terms", missing);
        Assert.True(code == 1, text);
        Assert.Contains(missing, text);
    }

    [Fact]
    public void A_missing_run_folder_is_named()
    {
        var missing = Path.Combine(folder, "no-such-run");
        var (code, text) = ToolRunner.Run(TinyFixed.Definition, "report", "--run-dir", missing);
        Assert.Equal(1, code);
        Assert.Contains(missing, text);
    }
}
