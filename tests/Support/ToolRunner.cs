using Spectre.Console;

namespace ImprovedDdpm.Tests.Support;

/// <summary>Runs a model's generated command-line tool in-process, capturing what it prints.</summary>
static class ToolRunner
{
    static readonly Lock ConsoleLock = new();

    public static (int Code, string Output) Run(ModelDefinition model, params string[] args)
    {
        // AnsiConsole.Console is process-wide: one captured run at a time.
        lock (ConsoleLock)
        {
            var writer = new StringWriter();
            var previous = AnsiConsole.Console;
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Interactive = InteractionSupport.No });
            try
            {
                return (CommandLineHost.Run(model, args), writer.ToString());
            }
            finally
            {
                AnsiConsole.Console = previous;
            }
        }
    }
}
