using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace ImprovedDdpm;

/// <summary>
/// The command-line tool a model's project becomes (the reference's <c>image_train.py</c>, <c>image_sample.py</c> and
/// <c>image_nll.py</c> in one program). The generator's <c>M.Run(args)</c> calls <see cref="Run"/>.
/// </summary>
public static class CommandLineHost
{
    /// <summary>Parses <paramref name="args"/>, runs the command and returns the process exit code.</summary>
    public static int Run(ModelDefinition model, string[] args)
    {
        var root = new RootCommand($"{model.Name}: Improved DDPM (Nichol & Dhariwal 2021), compiled from its attributes.");
        root.Subcommands.Add(InfoCommand(model));
        return root.Parse(args).Invoke();
    }

    static Command InfoCommand(ModelDefinition model)
    {
        var respacing = new Option<string?>("--timestep-respacing") { Description = "Show the process respaced like this (\"250\", \"ddim50\"); default: the declared one." };
        var command = new Command("info", "Print the configuration, the parameter count and a summary of the noise schedule.") { respacing };
        command.SetAction(result =>
        {
            var diffusion = model.CreateDiffusion(result.GetValue(respacing));
            var console = AnsiConsole.Console;
            foreach (var line in model.Summary) console.WriteLine(line);
            console.WriteLine();
            var table = new Spectre.Console.Table().AddColumn("t").AddColumn("beta_t").AddColumn("alpha_bar_t").AddColumn("sqrt(1 - alpha_bar_t)").AddColumn("original t");
            var n = diffusion.NumTimesteps;
            foreach (var t in new[] { 0, 1, n / 4, n / 2, 3 * n / 4, n - 2, n - 1 }.Distinct().Where(t => t >= 0 && t < n))
            {
                table.AddRow(Text(t), Text(diffusion.Tables.Betas[t]), Text(diffusion.Tables.AlphasCumprod[t]),
                    Text(diffusion.Tables.SqrtOneMinusAlphasCumprod[t]), Text(diffusion.TimestepMap[t]));
            }
            console.Write(table);
            console.WriteLine($"{n} sampling steps of {diffusion.OriginalNumTimesteps}; {diffusion.MeanType} prediction, {diffusion.VarType} variance, {diffusion.LossType} loss.");
            console.WriteLine($"Parameters: {model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture)}");
            return 0;
        });
        return command;
    }

    static string Text(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
