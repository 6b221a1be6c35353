using System.Globalization;
using ImprovedDdpm.Tests.Generator;
using ImprovedDdpm.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace ImprovedDdpm.Tests.EndToEnd;

/// <summary><c>nll</c> of the generated tool on the tiny model with the reference's weights.</summary>
public sealed class NllCommandTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-nll-").FullName;
    readonly string weights = ReferenceFixtures.PathOf("tiny_unet_sigma.safetensors");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Three 8x8 images, as an .npz and as a folder of PNGs with the same pixels.</summary>
    (string Npz, string Folder) Images()
    {
        var pixels = new byte[3 * 8 * 8 * 3];
        new Random(5).NextBytes(pixels);
        var npz = Path.Combine(folder, "images.npz");
        Npz.SaveSamples(npz, pixels, [3, 8, 8, 3]);
        var pngs = Directory.CreateDirectory(Path.Combine(folder, "pngs")).FullName;
        for (var n = 0; n < 3; n++)
        {
            using var image = new Image<Rgb24>(8, 8);
            for (var y = 0; y < 8; y++)
            {
                for (var x = 0; x < 8; x++)
                {
                    var at = (((n * 8) + y) * 8 + x) * 3;
                    image[x, y] = new Rgb24(pixels[at], pixels[at + 1], pixels[at + 2]);
                }
            }
            image.SaveAsPng(Path.Combine(pngs, $"img_{n}.png"));
        }
        return (npz, pngs);
    }

    [Fact]
    public void Nll_prints_finite_bits_per_dim_last_and_writes_the_per_step_terms()
    {
        var (npz, _) = Images();
        var terms = Path.Combine(folder, "terms.csv");
        var (code, text) = Run("nll", "--data-dir", npz, "--model-path", weights, "--batch-size", "2", "--terms-csv", terms);
        Assert.True(code == 0, text);
        var last = text.TrimEnd().Split('\n')[^1].Trim();
        var bpd = double.Parse(last, CultureInfo.InvariantCulture);
        Assert.True(double.IsFinite(bpd) && bpd > 0, last);
        var rows = File.ReadAllLines(terms);
        Assert.Equal("t,vb_bpd,xstart_mse", rows[0]);
        Assert.Equal(TinySigma.Schedule.Steps, rows.Length - 1);
    }

    [Fact]
    public void A_png_folder_and_an_npz_of_the_same_pixels_give_the_same_bits_per_dim()
    {
        var (npz, pngs) = Images();
        var fromNpz = NllEvaluation.Run(TinySigma.Definition, new NllOptions(npz, weights, BatchSize: 3));
        var fromPngs = NllEvaluation.Run(TinySigma.Definition, new NllOptions(pngs, weights, BatchSize: 3));
        Assert.Equal(3, fromNpz.Count);
        Assert.Equal(fromNpz.MeanBpd, fromPngs.MeanBpd, 1e-9);
        // The total is the prior plus every step's term.
        Assert.Equal(fromNpz.MeanBpd, fromNpz.PriorBpd.Average() + fromNpz.VbPerStep.Sum(), 1e-4);
    }

    [Fact]
    public void A_missing_data_folder_exits_with_its_name()
    {
        var missing = Path.Combine(folder, "nothing-here");
        var (code, text) = Run("nll", "--data-dir", missing, "--model-path", weights);
        Assert.Equal(1, code);
        Assert.Contains(missing, text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unwritable_terms_csv_is_refused_before_the_bound_is_computed()
    {
        var (npz, _) = Images();
        var terms = Path.Combine(UnwritableFolder.Path, "terms.csv");
        // The model path does not exist: the output is checked first, so no image was evaluated.
        var (code, output, errors) = ToolRunner.RunSeparately(TinySigma.Definition, "nll", "--data-dir", npz, "--model-path", Path.Combine(folder, "nope.pt"), "--terms-csv", terms);
        Assert.Equal(1, code);
        Assert.Contains($"error: --terms-csv: cannot write into {UnwritableFolder.Path}", errors, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Fact]
    public void An_existing_terms_csv_is_kept_unless_asked_and_a_folder_gets_the_default_name()
    {
        var (npz, _) = Images();
        var terms = Path.Combine(folder, "terms.csv");
        File.WriteAllText(terms, "my own table");
        var (code, output, errors) = ToolRunner.RunSeparately(TinySigma.Definition, "nll", "--data-dir", npz, "--model-path", Path.Combine(folder, "nope.pt"), "--terms-csv", terms);
        Assert.Equal(1, code);
        Assert.Contains($"error: {terms} already exists; pass --overwrite to replace it, or choose another --terms-csv", errors, StringComparison.Ordinal);
        Assert.Equal("my own table", File.ReadAllText(terms));

        (code, output, errors) = ToolRunner.RunSeparately(TinySigma.Definition, "nll", "--data-dir", npz, "--model-path", weights, "--timestep-respacing", "2",
            "--terms-csv", terms, "--overwrite");
        Assert.True(code == 0, output + errors);
        Assert.Equal("t,vb_bpd,xstart_mse", File.ReadAllLines(terms)[0]);

        var into = Path.Combine(folder, "results") + "/";
        (code, output, errors) = ToolRunner.RunSeparately(TinySigma.Definition, "nll", "--data-dir", npz, "--model-path", weights, "--timestep-respacing", "2", "--terms-csv", into);
        Assert.True(code == 0, output + errors);
        Assert.True(File.Exists(Path.Combine(folder, "results", "nll_terms.csv")));
    }

    static (int Code, string Output) Run(params string[] args) => ToolRunner.Run(TinySigma.Definition, args);
}
