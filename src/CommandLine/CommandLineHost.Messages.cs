using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace ImprovedDdpm;

/// <summary>What the tool says when something is wrong, and how its help shows defaults.</summary>
public static partial class CommandLineHost
{
    // Errors and warnings go to standard error, so that `tool … > log` still shows a failure on the terminal.
    // Run sets the writer for its call; async-local so that concurrent in-process runs each keep their own.
    static readonly AsyncLocal<IAnsiConsole?> ErrorConsole = new();

    // Console.Error as it is now (a host may have redirected it with Console.SetError since the last run).
    static IAnsiConsole Errors => ErrorConsole.Value ?? CreateErrorConsole(Console.Error);

    /// <summary>Colours on a terminal; plain, unwrapped lines in a file or a test's writer, so a path is never cut in two.</summary>
    static IAnsiConsole CreateErrorConsole(TextWriter writer)
    {
        var output = new AnsiConsoleOutput(writer);
        var console = AnsiConsole.Create(output.IsTerminal
            ? new AnsiConsoleSettings { Out = output }
            : new AnsiConsoleSettings { Out = output, Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No });
        if (!output.IsTerminal) console.Profile.Width = int.MaxValue / 2;
        return console;
    }

    /// <summary>The command-line flag of each <see cref="TrainingOptions"/> property, for messages about them.</summary>
    static readonly Dictionary<string, string> TrainingFlags = new(StringComparer.Ordinal)
    {
        [nameof(TrainingOptions.Lr)] = "--lr",
        [nameof(TrainingOptions.BatchSize)] = "--batch-size",
        [nameof(TrainingOptions.Microbatch)] = "--microbatch",
        [nameof(TrainingOptions.EmaRates)] = "--ema-rate",
        [nameof(TrainingOptions.WeightDecay)] = "--weight-decay",
        [nameof(TrainingOptions.LrAnnealSteps)] = "--lr-anneal-steps",
        [nameof(TrainingOptions.LogInterval)] = "--log-interval",
        [nameof(TrainingOptions.SaveInterval)] = "--save-interval",
        [nameof(TrainingOptions.MaxSteps)] = "--max-steps",
        [nameof(TrainingOptions.Seed)] = "--seed",
        [nameof(TrainingOptions.ScheduleSampler)] = "--schedule-sampler",
    };

    /// <summary>"rank r of K: " under mpiexec, so that a rank's error says whose it is; empty in a single process.</summary>
    static string RankPrefix = "";

    static void WriteError(string message) => Errors.MarkupLine($"{Markup.Escape(RankPrefix)}[red]error:[/] {Markup.Escape(message)}");

    static void WriteWarning(string message) => Errors.MarkupLine($"{Markup.Escape(RankPrefix)}[yellow]warning:[/] {Markup.Escape(message)}");

    /// <summary>An exception's message as a user of the tool should read it: flags instead of property names, no "(Parameter 'x')".</summary>
    static string Describe(Exception error)
    {
        if (error is TrainingOptionException option)
        {
            var flag = TrainingFlags.GetValueOrDefault(option.Option, option.Option);
            return $"{flag} {option.Value}: {option.Rule}";
        }
        if (error is ArgumentException { ParamName: { Length: > 0 } name } argument)
        {
            // ArgumentException.Message appends " (Parameter 'name')" (localised); the user never saw that parameter.
            var suffix = new ArgumentException("", name).Message;
            if (argument.Message.EndsWith(suffix, StringComparison.Ordinal) && argument.Message.Length > suffix.Length)
                return argument.Message[..^suffix.Length].TrimEnd();
        }
        return error.Message;
    }

    /// <summary>
    /// Gives every option of <paramref name="command"/> and its subcommands a readable parse error ("--batch-size: 'abc'
    /// is not an integer" instead of a .NET type name).
    /// </summary>
    static void MakeParseErrorsReadable(Command command)
    {
        foreach (var option in command.Options) ReadableParseErrors(option);
        foreach (var subcommand in command.Subcommands) MakeParseErrorsReadable(subcommand);
    }

    delegate bool TryParse<T>(string text, out T value);

    static void ReadableParseErrors(Option option)
    {
        const NumberStyles integer = NumberStyles.Integer;
        const NumberStyles real = NumberStyles.Float;
        var culture = CultureInfo.InvariantCulture;
        switch (option)
        {
            case Option<int> o:
                Readable(o, "an integer", (string s, out int v) => int.TryParse(s, integer, culture, out v));
                break;
            case Option<int?> o:
                Readable(o, "an integer", Nullable((string s, out int v) => int.TryParse(s, integer, culture, out v)));
                break;
            case Option<long> o:
                Readable(o, "an integer", (string s, out long v) => long.TryParse(s, integer, culture, out v));
                break;
            case Option<long?> o:
                Readable(o, "an integer", Nullable((string s, out long v) => long.TryParse(s, integer, culture, out v)));
                break;
            case Option<double> o:
                Readable(o, "a number", (string s, out double v) => double.TryParse(s, real, culture, out v));
                break;
            case Option<double?> o:
                Readable(o, "a number", Nullable((string s, out double v) => double.TryParse(s, real, culture, out v)));
                break;
            case Option<ScheduleSampler?> o:
                Readable(o, $"one of {string.Join(", ", Enum.GetNames<ScheduleSampler>())}", Nullable<ScheduleSampler>(ParseEnum));
                break;
        }
    }

    static bool ParseEnum<T>(string text, out T value) where T : struct, Enum =>
        // Enum.TryParse also takes numbers, which would name no member.
        Enum.TryParse(text, ignoreCase: true, out value) && Enum.IsDefined(value) && !char.IsAsciiDigit(text.TrimStart('-', '+')[0]);

    static TryParse<T?> Nullable<T>(TryParse<T> parse) where T : struct => (string text, out T? value) =>
    {
        var parsed = parse(text, out var plain);
        value = parsed ? plain : null;
        return parsed;
    };

    static void Readable<T>(Option<T> option, string expected, TryParse<T> parse)
    {
        if (option.CustomParser is not null) return;
        var fallback = option.DefaultValueFactory;
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0) return fallback is null ? default! : fallback(result);
            var text = result.Tokens[^1].Value;
            if (parse(text, out var value)) return value;
            result.AddError($"{option.Name}: '{text}' is not {expected}");
            return default!;
        };
    }
}
