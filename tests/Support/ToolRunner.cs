using Spectre.Console;

namespace ImprovedDdpm.Tests.Support;

/// <summary>Runs a model's generated command-line tool in-process, capturing what it prints.</summary>
static class ToolRunner
{
    static readonly Lock ConsoleLock = new();

    /// <summary>Standard output and standard error in one text, in the order written (as <c>2&gt;&amp;1</c>).</summary>
    public static (int Code, string Output) Run(ModelDefinition model, params string[] args)
    {
        var (code, output, _) = Capture(model, args, mergeErrors: true);
        return (code, output);
    }

    /// <summary>Standard output and standard error apart, to check that errors go to the latter.</summary>
    public static (int Code, string Output, string Errors) RunSeparately(ModelDefinition model, params string[] args) =>
        Capture(model, args, mergeErrors: false);

    static (int Code, string Output, string Errors) Capture(ModelDefinition model, string[] args, bool mergeErrors)
    {
        // AnsiConsole.Console is process-wide: one captured run at a time.
        lock (ConsoleLock)
        {
            var writer = new StringWriter();
            var errors = mergeErrors ? writer : new StringWriter();
            var previous = AnsiConsole.Console;
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.No });
            try
            {
                var code = CommandLineHost.Run(model, args, errors);
                return (code, writer.ToString(), mergeErrors ? "" : errors.ToString());
            }
            finally
            {
                AnsiConsole.Console = previous;
            }
        }
    }
}
