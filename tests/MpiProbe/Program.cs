using System.Diagnostics;
using System.Globalization;
using ImprovedDdpm;
using TorchSharp;
using static TorchSharp.torch;

// Each result is one "rank R: name = values" line (values comma-separated, round-trip formatted) for the tests to parse;
// under mpiexec the ranks' lines interleave, so every line names its rank.
var mode = args.Length > 0 ? args[0] : "collectives";
if (mode == "environment") return ReportEnvironment();
// The generated tool of a tiny model, as a user runs it (under mpiexec or not).
if (mode == "tool") return ImprovedDdpm.MpiProbe.TinyProbeModel.Run(args[1..]);
return Communicators.Run(communicator => mode switch
{
    "collectives" => Collectives(communicator),
    "tensors" => Tensors(communicator),
    "truncate" => Truncate(communicator),
    "fail" => Fail(communicator, args[1]),
    "nullref" => NullReference(communicator),
    "benchmark" => Benchmark(communicator, args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 52_546_438,
        args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10),
    "train" => ImprovedDdpm.MpiProbe.TinyTraining.Train(communicator, args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture),
        long.Parse(args[4], CultureInfo.InvariantCulture), args[5]),
    "evaluate" => Evaluate(communicator, args[1], args[2], args[3], int.Parse(args[4], CultureInfo.InvariantCulture), args[5]),
    "step-benchmark" => StepBenchmark(communicator, int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture)),
    _ => throw new ArgumentException($"unknown mode {mode}"),
});

// SampleEvaluation through the library: every rank prints the result it returns, round-trip formatted; rank 0 saves the
// reference statistics.
static int Evaluate(ICommunicator c, string samples, string reference, string weights, int batchSize, string statistics)
{
    using var network = FidInceptionV3.Load(weights);
    var result = SampleEvaluation.Run(network, samples, reference, batchSize, statistics, communicator: c);
    Print(c, "evaluation", new double[]
    {
        result.Samples, result.ReferenceImages ?? -1, result.Fid, result.InceptionScore.Mean, result.InceptionScore.StandardDeviation,
        result.PrecisionRecall?.Precision ?? double.NaN, result.PrecisionRecall?.Recall ?? double.NaN,
    });
    return 0;
}

// What FromEnvironment chose, and whether an MPI library is mapped into this process afterwards.
static int ReportEnvironment()
{
    try
    {
        var communicator = Communicators.FromEnvironment();
        Console.WriteLine($"communicator: {communicator.GetType().Name} rank {communicator.Rank} size {communicator.Size}");
    }
    catch (MpiLibraryException e)
    {
        Console.WriteLine($"error: {e.Message}");
    }
    var mapped = File.ReadLines("/proc/self/maps").Where(line => line.Contains("libmpi", StringComparison.Ordinal)).Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]).Distinct();
    Console.WriteLine($"libmpi mapped: {string.Join(" ", mapped.DefaultIfEmpty("none"))}");
    return 0;
}

static int Collectives(ICommunicator c)
{
    var r = c.Rank;
    Print(c, "size", c.Size);
    Print(c, "library", (c as MpiCommunicator)?.LibraryVersion ?? "none");
    Print(c, "local-rank", Communicators.LocalRank);

    float[] singles = [.. Enumerable.Range(0, 5).Select(i => (r + 1) * (i + 1) * 0.5f)];
    c.AllReduceSum<float>(singles);
    Print(c, "allreduce-float", singles);
    double[] doubles = [.. Enumerable.Range(0, 4).Select(i => (r + 1) * (i + 1) * 0.25)];
    c.AllReduceSum<double>(doubles);
    Print(c, "allreduce-double", doubles);
    long[] longs = [(1L << 40) + r, -r];
    c.AllReduceSum<long>(longs);
    Print(c, "allreduce-long", longs);

    // Sums that round: every rank must still hold the same bits (data-parallel ranks keep identical weights only so).
    // 1000 floats take Open MPI's small-message algorithm, 1M its large-message one.
    foreach (var length in new[] { 1000, 1_000_000 })
    {
        var random = new Random(1 + r);
        float[] noisy = [.. Enumerable.Range(0, length).Select(_ => (float)random.NextDouble() * 1e3f - 500f)];
        c.AllReduceSum<float>(noisy);
        Print(c, $"allreduce-rounded-{length}", System.IO.Hashing.XxHash64.HashToUInt64(System.Runtime.InteropServices.MemoryMarshal.AsBytes(noisy.AsSpan())));
    }

    Print(c, "allgather-double", c.AllGather<double>([r + 0.5, r * 2.25]));
    Print(c, "allgather-long", c.AllGather<long>([r * (1L << 40) + 7, -r]));
    Print(c, "allgather-byte", c.AllGather<byte>([(byte)(r + 1), (byte)(250 - r)]));
    var parts = c.AllGatherVariable<byte>([.. Enumerable.Repeat((byte)r, r + 1)]);
    Print(c, "allgather-variable", parts.Select(part => string.Concat(part.Select(b => b.ToString(CultureInfo.InvariantCulture)))));
    try
    {
        c.AllGather<int>(new int[r + 1]);
        Print(c, "allgather-mismatch", "accepted");
    }
    catch (InvalidOperationException e)
    {
        Print(c, "allgather-mismatch", e.Message);
    }

    byte[] bytes = r == 0 ? [1, 2, 3] : new byte[3];
    c.Broadcast<byte>(bytes);
    Print(c, "broadcast-byte", bytes);
    var last = c.Size - 1;
    float[] fromLast = r == last ? [last + 0.5f, 3.25f] : [float.NaN, float.NaN];
    c.Broadcast<float>(fromLast, root: last);
    Print(c, "broadcast-float-from-last", fromLast);
    long[] extremes = r == 0 ? [long.MaxValue - 5, long.MinValue] : new long[2];
    c.Broadcast<long>(extremes);
    Print(c, "broadcast-long", extremes);

    c.Barrier();
    Print(c, "barrier", "passed");
    return 0;
}

static int Tensors(ICommunicator c)
{
    var r = c.Rank;
    // 16-byte buckets (4 floats, 2 doubles): tensors straddle buckets and each type takes several calls.
    using (var small = new TensorCollectives(c, bucketBytes: 16))
    using (var whole = new TensorCollectives(c))
    {
        foreach (var (name, collectives) in new[] { ("small-buckets", small), ("one-bucket", whole) })
        {
            using var scope = NewDisposeScope();
            var a = tensor(Enumerable.Range(0, 6).Select(i => (float)((r + 1) * (i + 1))).ToArray()).reshape(2, 3);
            var b = tensor(new[] { r * 0.5, -r, 10.0 });
            var d = tensor(Enumerable.Range(0, 9).Select(i => (float)(r * 10 + i)).ToArray());
            var e = tensor(new long[] { r, 100 });
            collectives.AllReduceMean([a, b, d]);
            collectives.AllReduceSum([e]);
            Print(c, $"{name} mean-float32", Values(a));
            Print(c, $"{name} mean-float64", Values(b));
            Print(c, $"{name} mean-float32-b", Values(d));
            Print(c, $"{name} sum-int64", Values(e));
        }

        // Different initial weights (and a buffer) on every rank; after the broadcast, rank 0's everywhere.
        random.manual_seed(100 + r);
        using var model = nn.Sequential(("linear", nn.Linear(3, 2)), ("norm", nn.BatchNorm1d(2)));
        using (var rankValue = ((double)r).ToScalar())
            model.state_dict()["norm.running_mean"].fill_(rankValue);
        foreach (var (key, value) in model.state_dict()) Print(c, $"before {key}", Values(value));
        whole.BroadcastModule(model);
        foreach (var (key, value) in model.state_dict()) Print(c, $"after {key}", Values(value));

        // The same weights, different data per rank: the averaged gradient is the mean of the ranks' own.
        model.train();
        var input = randn(4, 3, generator: new Generator(7 + (ulong)r));
        using (var loss = model.forward(input).Power(2).sum()) loss.backward();
        foreach (var (key, parameter) in model.named_parameters()) Print(c, $"gradient-own {key}", Values(parameter.grad!));
        whole.AllReduceMeanGradients(model);
        foreach (var (key, parameter) in model.named_parameters()) Print(c, $"gradient-mean {key}", Values(parameter.grad!));

        // A module of another shape on one rank is refused on every rank (no rank waits for a broadcast).
        using var mismatched = nn.Linear(3, r == 0 ? 2 : 4);
        try
        {
            whole.BroadcastModule(mismatched);
            Print(c, "mismatched-module", "accepted");
        }
        catch (InvalidOperationException e)
        {
            Print(c, "mismatched-module", e.Message);
        }
    }
    return 0;
}

// A broadcast whose lengths differ: the receiving ranks' MPI_Bcast fails with MPI's own error (MPI_ERRORS_RETURN).
static int Truncate(ICommunicator c)
{
    try
    {
        c.Broadcast<byte>(new byte[c.Rank == 0 ? 64 : 8]);
        Print(c, "truncate", "no error");
    }
    catch (MpiException e)
    {
        Print(c, "truncate", $"{e.Call} {e.ErrorCode}: {e.Message}");
    }
    c.Barrier();
    return 0;
}

// The last rank fails while the others wait for it in an all-reduce: the job must end, naming that rank.
static int Fail(ICommunicator c, string how)
{
    if (c.Rank != c.Size - 1) Print(c, "waiting", "in all-reduce");
    // After the line is out: a test reading it knows the others were waiting when the last rank failed.
    c.Barrier();
    if (c.Rank != c.Size - 1)
    {
        c.AllReduceSum<float>(new float[4]);
        Print(c, "waiting", "returned (should not)");
        return 0;
    }
    switch (how)
    {
        case "throw":
            throw new InvalidOperationException("probe failure on purpose");
        case "exit":
            return 3;
        case "unhandled":
            var thread = new Thread(() => throw new InvalidOperationException("probe failure on a background thread"));
            thread.Start();
            thread.Join();
            return 0;
        case "kill":
            Process.GetCurrentProcess().Kill();
            return 0;
        default:
            throw new ArgumentException($"unknown failure {how}");
    }
}

// .NET turns a fault in managed code into NullReferenceException through its SIGSEGV handler; MPI_Init must leave it.
static int NullReference(ICommunicator c)
{
    string? text = c.Rank < 0 ? "never" : null;
    try
    {
        Print(c, "nullref", text!.Length);
    }
    catch (NullReferenceException)
    {
        Print(c, "nullref", "caught");
    }
    c.Barrier();
    return 0;
}

// The median time of an in-place float32 all-reduce of `elements` (the CIFAR-10 model's gradient by default), raw and
// through TensorCollectives (the copies to and from tensors included).
static int Benchmark(ICommunicator c, long elements, int repetitions)
{
    var buffer = new float[elements];
    Array.Fill(buffer, 1f);
    var raw = Measure(c, repetitions, () => c.AllReduceSum<float>(buffer));
    // As gradients come: many tensors of various sizes (here 100).
    var sizes = Enumerable.Range(0, 100).Select(i => elements / 100 + (i == 0 ? elements % 100 : 0)).ToArray();
    var gradients = sizes.Select(size => ones(size)).ToList();
    // One libtorch thread per rank, as K ranks on K cores would train.
    set_num_threads(Math.Max(1, System.Environment.ProcessorCount / c.Size));
    using var collectives = new TensorCollectives(c);
    var viaTensors = Measure(c, repetitions, () => collectives.AllReduceMean(gradients));
    // The same without MPI: what the host copies and the division cost on their own.
    using var copiesOnly = new TensorCollectives(new CopiesOnly(c.Size));
    var copies = Measure(c, repetitions, () => copiesOnly.AllReduceMean(gradients));
    if (c.IsRoot)
    {
        Console.WriteLine($"all-reduce of {elements} float32 ({elements * 4 / 1e6:F1} MB) over {c.Size} ranks, {repetitions} repetitions:");
        Console.WriteLine($"  MPI_Allreduce in place: median {raw.Median * 1e3:F1} ms (min {raw.Min * 1e3:F1}, max {raw.Max * 1e3:F1})");
        Console.WriteLine($"  TensorCollectives.AllReduceMean of 100 tensors: median {viaTensors.Median * 1e3:F1} ms (min {viaTensors.Min * 1e3:F1}, max {viaTensors.Max * 1e3:F1})");
        Console.WriteLine($"    of which host copies and division (no MPI): median {copies.Median * 1e3:F1} ms (min {copies.Min * 1e3:F1}, max {copies.Max * 1e3:F1})");
    }
    foreach (var gradient in gradients) gradient.Dispose();
    return 0;
}

// One CIFAR-10 training step (TrainLoop.TrainOn) at a global batch split over the ranks, each rank with the machine's
// cores divided among the ranks as libtorch threads; then the gradient all-reduce of such a step on its own.
static int StepBenchmark(ICommunicator c, int globalBatch, int repetitions)
{
    if (globalBatch % c.Size != 0) throw new ArgumentException($"global batch {globalBatch} does not split over {c.Size} ranks");
    var threads = Math.Max(1, System.Environment.ProcessorCount / c.Size);
    set_num_threads(threads);
    var model = ImprovedDdpm.MpiProbe.Cifar10ProbeModel.Definition;
    manual_seed(0);
    using var network = model.CreateNetwork();
    var run = Directory.CreateTempSubdirectory("improved-ddpm-step-bench-").FullName;
    var options = model.Training with { BatchSize = globalBatch / c.Size, Microbatch = -1, SaveInterval = int.MaxValue, LogInterval = int.MaxValue };
    using var loop = new TrainLoop(network, model.CreateDiffusion(""), options, run, _ => Enumerable.Empty<TrainingBatch>().GetEnumerator(), communicator: c);
    using var images = rand([options.BatchSize, model.Channels, model.ImageSize, model.ImageSize]);
    using var batch = new TrainingBatch(images, null);
    var step = Measure(c, repetitions, () => loop.TrainOn(batch));
    using var collectives = new TensorCollectives(c);
    var allReduce = Measure(c, repetitions, () => collectives.AllReduceMeanGradients(network));
    if (c.IsRoot)
    {
        Console.WriteLine($"CIFAR-10 ({network.parameters().Sum(p => p.numel())} parameters), global batch {globalBatch} = {c.Size} rank(s) x {options.BatchSize}, {threads} libtorch thread(s) per rank, {repetitions} steps:");
        Console.WriteLine($"  step: median {step.Median:F2} s (min {step.Min:F2}, max {step.Max:F2})");
        if (c.Size > 1) Console.WriteLine($"  of which gradient all-reduce (measured apart): median {allReduce.Median:F2} s (min {allReduce.Min:F2}, max {allReduce.Max:F2})");
    }
    Directory.Delete(run, recursive: true);
    return 0;
}

static (double Median, double Min, double Max) Measure(ICommunicator c, int repetitions, Action action)
{
    action(); // warm-up: first-touch of pages and MPI's connection set-up
    var seconds = new double[repetitions];
    for (var i = 0; i < repetitions; i++)
    {
        c.Barrier();
        var watch = Stopwatch.StartNew();
        action();
        seconds[i] = watch.Elapsed.TotalSeconds;
    }
    // The slowest rank's time is the collective's.
    var slowest = c.AllGather<double>(seconds);
    var times = Enumerable.Range(0, repetitions).Select(i => Enumerable.Range(0, c.Size).Max(rank => slowest[rank * repetitions + i])).Order().ToArray();
    return (times[repetitions / 2], times[0], times[^1]);
}

static double[] Values(Tensor t) => t.to(ScalarType.Float64).flatten().data<double>().ToArray();

static void Print<T>(ICommunicator c, string name, T value)
{
    var text = value switch
    {
        string s => s,
        System.Collections.IEnumerable items => string.Join(",", items.Cast<object>().Select(Format)),
        _ => Format(value!),
    };
    Console.WriteLine($"rank {c.Rank}: {name} = {text}");
}

static string Format(object value) => value switch
{
    double d => d.ToString("R", CultureInfo.InvariantCulture),
    float f => f.ToString("R", CultureInfo.InvariantCulture),
    IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
    _ => value.ToString() ?? "",
};

/// <summary>K ranks whose collectives do nothing: TensorCollectives' own work, measured without MPI.</summary>
sealed class CopiesOnly(int size) : ICommunicator
{
    public int Rank => 0;

    public int Size => size;

    public void AllReduceSum<T>(Span<T> values) where T : unmanaged
    {
    }

    public T[] AllGather<T>(ReadOnlySpan<T> mine) where T : unmanaged => throw new NotSupportedException();

    public T[][] AllGatherVariable<T>(ReadOnlySpan<T> mine) where T : unmanaged => throw new NotSupportedException();

    public void Broadcast<T>(Span<T> values, int root = 0) where T : unmanaged
    {
    }

    public void Barrier()
    {
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public void Abort(int code, string? reason = null) => throw new NotSupportedException();

    public void Dispose()
    {
    }
}
