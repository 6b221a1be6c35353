using ImprovedDdpm.Tests.Support;
using Xunit.Abstractions;
using static ImprovedDdpm.Tests.Support.MpiRun;

namespace ImprovedDdpm.Tests.Distributed;

/// <summary>
/// The Open MPI binding in real MPI jobs: tests/MpiProbe under <c>mpiexec -n K</c> runs each collective with
/// rank-dependent inputs and prints what every rank got; the values expected are computed here from K.
/// </summary>
public sealed class MpiCollectiveTests(ITestOutputHelper output)
{
    [MpiTheory]
    [InlineData(2)]
    [InlineData(3)] // not a power of two: Open MPI's reduction and gather algorithms take other paths
    public void Every_rank_gets_the_reduced_gathered_and_broadcast_values(int k)
    {
        var results = Run(k, "collectives");
        Assert.Equal(Enumerable.Range(0, k), results.Keys.Order());
        var triangle = k * (k + 1) / 2; // the sum of r + 1 over the ranks
        for (var r = 0; r < k; r++)
        {
            var mine = results[r];
            Assert.Equal($"{k}", mine["size"]);
            Assert.StartsWith("Open MPI v", mine["library"]);
            Assert.Equal($"{r}", mine["local-rank"]); // one machine: local ranks are the ranks
            // Small multiples of powers of two: every sum is exact, whatever order MPI adds in.
            Assert.Equal(Enumerable.Range(0, 5).Select(i => triangle * (i + 1) * 0.5), Numbers(mine["allreduce-float"]));
            Assert.Equal(Enumerable.Range(0, 4).Select(i => triangle * (i + 1) * 0.25), Numbers(mine["allreduce-double"]));
            Assert.Equal($"{k * (1L << 40) + (k - 1) * k / 2},{-(k - 1) * k / 2}", mine["allreduce-long"]);
            Assert.Equal(results[0]["allreduce-rounded-1000"], mine["allreduce-rounded-1000"]);
            Assert.Equal(results[0]["allreduce-rounded-1000000"], mine["allreduce-rounded-1000000"]);

            Assert.Equal(Enumerable.Range(0, k).SelectMany(q => new[] { q + 0.5, q * 2.25 }), Numbers(mine["allgather-double"]));
            Assert.Equal(string.Join(",", Enumerable.Range(0, k).SelectMany(q => new[] { q * (1L << 40) + 7, -q })), mine["allgather-long"]);
            Assert.Equal(string.Join(",", Enumerable.Range(0, k).SelectMany(q => new[] { q + 1, 250 - q })), mine["allgather-byte"]);
            // Rank q sent q + 1 bytes of value q.
            Assert.Equal(string.Join(",", Enumerable.Range(0, k).Select(q => new string((char)('0' + q), q + 1))), mine["allgather-variable"]);
            Assert.Equal(
                $"AllGather needs the same length on every rank; got {string.Join(", ", Enumerable.Range(0, k).Select(q => $"rank {q}: {q + 1}"))}.",
                mine["allgather-mismatch"]);

            Assert.Equal("1,2,3", mine["broadcast-byte"]);
            Assert.Equal(new[] { k - 1 + 0.5, 3.25 }, Numbers(mine["broadcast-float-from-last"]));
            Assert.Equal($"{long.MaxValue - 5},{long.MinValue}", mine["broadcast-long"]);
            Assert.Equal("passed", mine["barrier"]);
        }
    }

    [MpiFact]
    public void Tensor_lists_are_averaged_across_ranks_and_a_module_is_broadcast_from_rank_0()
    {
        var results = Run(2, "tensors");
        var (zero, one) = (results[0], results[1]);
        foreach (var mine in new[] { zero, one })
        {
            // 16-byte buckets cut tensors apart and take several calls; the result must not depend on it.
            foreach (var buckets in new[] { "small-buckets", "one-bucket" })
            {
                // Rank r held (r + 1)·(i + 1), (r/2, −r, 10), 10r + i and (r, 100).
                Assert.Equal(Enumerable.Range(0, 6).Select(i => 1.5 * (i + 1)), Numbers(mine[$"{buckets} mean-float32"]));
                Assert.Equal(new[] { 0.25, -0.5, 10 }, Numbers(mine[$"{buckets} mean-float64"]));
                Assert.Equal(Enumerable.Range(0, 9).Select(i => 5.0 + i), Numbers(mine[$"{buckets} mean-float32-b"]));
                Assert.Equal("1,200", mine[$"{buckets} sum-int64"]);
            }
            Assert.Equal("The module's parameters and buffers (names, types or shapes) on rank(s) 1 differ from rank 0's.", mine["mismatched-module"]);
        }

        var keys = zero.Keys.Where(key => key.StartsWith("before ", StringComparison.Ordinal)).Select(key => key["before ".Length..]).ToList();
        Assert.Equal(7, keys.Count); // the linear layer's weight and bias, the norm's weight, bias and three buffers
        Assert.NotEqual(zero["before linear.weight"], one["before linear.weight"]);
        Assert.NotEqual(zero["before norm.running_mean"], one["before norm.running_mean"]);
        foreach (var key in keys)
        {
            Assert.Equal(zero[$"before {key}"], zero[$"after {key}"]);
            Assert.Equal(zero[$"before {key}"], one[$"after {key}"]);
        }

        // Each rank's own gradient differs (different data); both end with their float32 mean, to the bit.
        var parameters = zero.Keys.Where(key => key.StartsWith("gradient-own ", StringComparison.Ordinal)).Select(key => key["gradient-own ".Length..]).ToList();
        Assert.Equal(4, parameters.Count);
        foreach (var parameter in parameters)
        {
            var a = Numbers(zero[$"gradient-own {parameter}"]);
            var b = Numbers(one[$"gradient-own {parameter}"]);
            Assert.NotEqual(a, b);
            var mean = a.Zip(b, (x, y) => (double)(((float)x + (float)y) / 2f));
            Assert.Equal(mean, Numbers(zero[$"gradient-mean {parameter}"]));
            Assert.Equal(mean, Numbers(one[$"gradient-mean {parameter}"]));
        }
    }

    [MpiFact]
    public void An_mpi_error_is_an_exception_naming_the_call_and_mpis_description_and_the_job_goes_on()
    {
        // Rank 0 broadcasts 64 bytes into rank 1's 8: with MPI_ERRORS_RETURN, rank 1 gets the error and both continue.
        var results = Run(2, "truncate");
        Assert.Equal("no error", results[0]["truncate"]);
        Assert.Equal("MPI_Bcast 15: MPI_Bcast failed: MPI_ERR_TRUNCATE: message truncated (error 15)", results[1]["truncate"]);
    }

    [MpiFact]
    public void Null_references_in_managed_code_still_throw_after_MPI_Init()
    {
        // Open MPI installs signal handlers of its own at MPI_Init; .NET needs its SIGSEGV handler for this.
        var results = Run(2, "nullref");
        Assert.Equal("caught", results[0]["nullref"]);
        Assert.Equal("caught", results[1]["nullref"]);
    }

    [MpiTheory]
    [InlineData("throw", 1, "rank 1 of 2 ends the job (exit code 1): System.InvalidOperationException: probe failure on purpose")]
    [InlineData("exit", 3, "rank 1 of 2 ends the job (exit code 3): returned 3")]
    [InlineData("unhandled", 1, "rank 1 of 2 ends the job (exit code 1): unhandled exception on a thread: System.InvalidOperationException: probe failure on a background thread")]
    [InlineData("kill", null, "process rank 1 with PID")]
    public void A_failing_rank_ends_the_whole_job_with_a_message_naming_it(string how, int? exitCode, string message)
    {
        // Rank 0 waits in an all-reduce that rank 1 never joins: only the abort can end it.
        using var job = Start(2, "fail", how);
        var code = job.WaitForExit(Deadline);
        output.WriteLine($"exit code {code}\nstderr:\n{job.Errors}\nstdout:\n{job.Output}");
        if (exitCode is { } expected) Assert.Equal(expected, code);
        else Assert.NotEqual(0, code);
        Assert.Contains(message, job.Errors + job.Output);
        if (how == "kill") Assert.Contains("exited on signal 9 (Killed)", job.Errors + job.Output);
        Assert.Equal("in all-reduce", Results(job.Output)[0]["waiting"]);
    }

    [MpiFact]
    public void The_all_reduce_benchmark_runs_and_reports_medians()
    {
        // A small size: this only keeps the benchmark working; the README's figure is its default, 52.5M floats.
        using var job = Start(2, "benchmark", "1000", "3");
        var text = job.AssertSucceeds(Deadline);
        output.WriteLine(text);
        Assert.Contains("all-reduce of 1000 float32 (0.0 MB) over 2 ranks, 3 repetitions:", text);
        Assert.Matches(@"MPI_Allreduce in place: median \d+\.\d ms", text);
        Assert.Matches(@"TensorCollectives.AllReduceMean of 100 tensors: median \d+\.\d ms", text);
        Assert.Matches(@"of which host copies and division \(no MPI\): median \d+\.\d ms", text);
    }

    Dictionary<int, Dictionary<string, string>> Run(int ranks, string mode)
    {
        using var job = Start(ranks, mode);
        try
        {
            job.AssertSucceeds(Deadline);
        }
        finally
        {
            output.WriteLine($"$ {job.Description}\n{job.Output}{job.Errors}");
        }
        return Results(job.Output);
    }
}
