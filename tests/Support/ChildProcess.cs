using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// A process started by a test. Its stdout and stderr are read as they arrive (events, never a blocking read to the
/// end), stdout lines can be awaited one by one, and every wait has a deadline: a child that hangs is killed and the
/// test fails with its exit state, stderr and stdout instead of hanging the run.
/// </summary>
sealed class ChildProcess : IDisposable
{
    /// <summary>How long the output pipes may stay open after the child exited (a grandchild can hold them).</summary>
    static readonly TimeSpan PipeDrain = TimeSpan.FromSeconds(10);

    readonly Process process;
    readonly StringBuilder stdout = new(), stderr = new();
    readonly Channel<string> lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    readonly TaskCompletionSource stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    ChildProcess(ProcessStartInfo start)
    {
        Description = $"{Path.GetFileName(start.FileName)} {string.Join(' ', start.ArgumentList)}";
        process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                lines.Writer.TryComplete();
                stdoutClosed.TrySetResult();
                return;
            }
            lock (stdout) stdout.AppendLine(e.Data);
            lines.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                stderrClosed.TrySetResult();
                return;
            }
            lock (stderr) stderr.AppendLine(e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The command line, for messages.</summary>
    public string Description { get; }

    public int Id => process.Id;

    /// <summary>Everything the child wrote to stdout so far.</summary>
    public string Output
    {
        get { lock (stdout) return stdout.ToString(); }
    }

    /// <summary>Everything the child wrote to stderr so far.</summary>
    public string Errors
    {
        get { lock (stderr) return stderr.ToString(); }
    }

    /// <summary>Starts <paramref name="fileName"/> with stdout and stderr captured.</summary>
    /// <param name="environment">Edits the child's environment (it starts as a copy of this process's).</param>
    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        Action<IDictionary<string, string?>>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        if (workingDirectory is not null) start.WorkingDirectory = workingDirectory;
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        environment?.Invoke(start.Environment);
        return new ChildProcess(start);
    }

    /// <summary>
    /// The next stdout line, or null once stdout has closed (the child ended). Fails the test if none comes by
    /// <paramref name="deadline"/>.
    /// </summary>
    public string? ReadLine(DateTime deadline, string waitingFor)
    {
        while (true)
        {
            // Lines already read come first, even past the deadline.
            if (lines.Reader.TryRead(out var line)) return line;
            using var timeout = new CancellationTokenSource(Remaining(deadline));
            try
            {
                if (!lines.Reader.WaitToReadAsync(timeout.Token).AsTask().GetAwaiter().GetResult()) return null;
            }
            catch (OperationCanceledException)
            {
                throw Failure($"no output line in time while waiting for {waitingFor}");
            }
        }
    }

    /// <summary>Reads stdout lines until one satisfies <paramref name="match"/>; fails if the child ends or the deadline passes first.</summary>
    public string WaitForLine(Func<string, bool> match, DateTime deadline, string waitingFor)
    {
        while (true)
        {
            var line = ReadLine(deadline, waitingFor) ?? throw Failure($"the process ended while waiting for {waitingFor}");
            if (match(line)) return line;
        }
    }

    /// <summary>
    /// Waits for the child to exit and its output to be read; returns the exit code. A child still running after
    /// <paramref name="timeout"/> is killed (with its descendants) and the test fails.
    /// </summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            KillTree();
            throw Failure($"still running after {timeout.TotalSeconds:F0} s: killed");
        }
        // The exit is known; the last lines may still be in flight. A grandchild holding the pipes must not hang us.
        Task.WaitAll([stdoutClosed.Task, stderrClosed.Task], PipeDrain);
        return process.ExitCode;
    }

    /// <summary>Waits for the exit (see <see cref="WaitForExit"/>) and fails unless the exit code is 0; returns stdout.</summary>
    public string AssertSucceeds(TimeSpan timeout)
    {
        var code = WaitForExit(timeout);
        if (code != 0) throw Failure("failed");
        return Output;
    }

    /// <summary>SIGKILL to the child and its descendants, then waits (bounded) for it to be gone.</summary>
    public void Kill()
    {
        KillTree();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60))) throw Failure("did not die within a minute of SIGKILL");
        Task.WaitAll([stdoutClosed.Task, stderrClosed.Task], PipeDrain);
    }

    /// <summary>True once the child has exited.</summary>
    public bool HasExited => process.HasExited;

    /// <summary>A test failure naming the command, its exit state, stderr and stdout.</summary>
    public Xunit.Sdk.XunitException Failure(string what)
    {
        var state = process.HasExited ? $"exit code {process.ExitCode}" : "still running";
        return new Xunit.Sdk.XunitException($"{Description}: {what} ({state})\nstderr:\n{Errors}\nstdout:\n{Output}");
    }

    static TimeSpan Remaining(DateTime deadline)
    {
        var left = deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    void KillTree()
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited on its own meanwhile.
        }
    }

    /// <summary>Kills a child that is still running (a failed test must not leave it behind).</summary>
    public void Dispose()
    {
        if (!process.HasExited)
        {
            KillTree();
            process.WaitForExit(TimeSpan.FromSeconds(60));
        }
        process.Dispose();
    }
}
