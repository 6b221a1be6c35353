using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Collectives over lists of TorchSharp tensors: gradients averaged across ranks after the backward pass, and a
/// module's parameters and buffers sent from one rank to all. With one process every operation returns at once.
/// </summary>
/// <remarks>
/// The tensors are copied, by libtorch, into contiguous host buffers (up to <c>bucketBytes</c> each, kept between
/// calls), the buffers go through MPI, and the results are copied back. CUDA tensors therefore go through host memory:
/// this binding does not assume a CUDA-aware MPI library. Tensors must be contiguous (gradients and parameters are),
/// so that a result can be written back into them in place. Element types: float32, float64, int64, int32, uint8.
/// </remarks>
public sealed class TensorCollectives(ICommunicator communicator, long bucketBytes = TensorCollectives.DefaultBucketBytes) : IDisposable
{
    /// <summary>1 GiB: the CIFAR-10 model's 52.5M float32 gradients (210 MB) go in one call; a span's length is an int.</summary>
    public const long DefaultBucketBytes = 1L << 30;

    readonly Dictionary<ScalarType, Tensor> buffers = [];
    readonly long maxBucketBytes = bucketBytes > 0 ? bucketBytes : throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, "A bucket needs room for at least one element.");

    public ICommunicator Communicator { get; } = communicator;

    /// <summary>Replaces each tensor, on every rank, by its mean over the ranks (the data-parallel gradient).</summary>
    public void AllReduceMean(IReadOnlyList<Tensor> tensors) => AllReduce(tensors, mean: true);

    /// <summary>Replaces each tensor, on every rank, by its sum over the ranks.</summary>
    public void AllReduceSum(IReadOnlyList<Tensor> tensors) => AllReduce(tensors, mean: false);

    /// <summary>
    /// Averages the gradients of <paramref name="module"/>'s trainable parameters across ranks. Every such parameter
    /// must have a gradient (zero them rather than set them to none): a rank without one would leave the buffers of
    /// the ranks out of step.
    /// </summary>
    public void AllReduceMeanGradients(nn.Module module)
    {
        if (Communicator.Size == 1) return;
        // Each .grad is a new handle to the gradient: released here rather than left to the finalizer.
        using var scope = NewDisposeScope();
        var gradients = new List<Tensor>();
        foreach (var (name, parameter) in module.named_parameters())
        {
            if (!parameter.requires_grad) continue;
            gradients.Add(parameter.grad ?? throw new InvalidOperationException(
                $"Parameter {name} has no gradient on rank {Communicator.Rank}; every rank must average the same gradients."));
        }
        AllReduceMean(gradients);
    }

    /// <summary>Overwrites each tensor on every rank with rank <paramref name="root"/>'s.</summary>
    public void Broadcast(IReadOnlyList<Tensor> tensors, int root = 0)
    {
        if (Communicator.Size == 1) return;
        foreach (var group in GroupByType(tensors))
            Dispatch(group.Key, group.ToList(), new BroadcastStep(Communicator, root));
    }

    /// <summary>
    /// Sends rank <paramref name="root"/>'s parameters and buffers (its <c>state_dict</c>) to every rank, as the initial
    /// weights must be the same everywhere. First checks that every rank's module has the same names, types and
    /// shapes, and throws on every rank, naming those that differ, if not.
    /// </summary>
    public void BroadcastModule(nn.Module module, int root = 0)
    {
        if (Communicator.Size == 1) return;
        var state = module.state_dict();
        var fingerprints = Communicator.AllGather<long>([Fingerprint(state)]);
        var differing = Enumerable.Range(0, Communicator.Size).Where(rank => fingerprints[rank] != fingerprints[root]).ToList();
        if (differing.Count > 0)
            throw new InvalidOperationException(
                $"The module's parameters and buffers (names, types or shapes) on rank(s) {string.Join(", ", differing)} differ from rank {root}'s.");
        using (no_grad()) Broadcast(state.Values.ToList(), root);
    }

    static long Fingerprint(Dictionary<string, Tensor> state)
    {
        var text = new StringBuilder();
        foreach (var (name, tensor) in state) text.Append(name).Append(':').Append(tensor.dtype).Append(':').AppendJoin(',', tensor.shape).Append(';');
        return (long)XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(text.ToString()));
    }

    void AllReduce(IReadOnlyList<Tensor> tensors, bool mean)
    {
        if (Communicator.Size == 1) return;
        foreach (var group in GroupByType(tensors))
            Dispatch(group.Key, group.ToList(), new AllReduceStep(Communicator, mean));
    }

    static IEnumerable<IGrouping<ScalarType, Tensor>> GroupByType(IReadOnlyList<Tensor> tensors)
    {
        foreach (var tensor in tensors)
            if (!tensor.is_contiguous())
                throw new ArgumentException("Collectives write results back in place, which needs contiguous tensors.", nameof(tensors));
        // In a fixed order of types, so every rank makes the same calls in the same order.
        return tensors.GroupBy(tensor => tensor.dtype).OrderBy(group => (int)group.Key);
    }

    void Dispatch(ScalarType type, List<Tensor> tensors, IBucketStep step)
    {
        switch (type)
        {
            case ScalarType.Float32: Run<float>(type, tensors, step); break;
            case ScalarType.Float64: Run<double>(type, tensors, step); break;
            case ScalarType.Int64: Run<long>(type, tensors, step); break;
            case ScalarType.Int32: Run<int>(type, tensors, step); break;
            case ScalarType.Byte: Run<byte>(type, tensors, step); break;
            default: throw new NotSupportedException($"Tensor collectives carry float32, float64, int64, int32 and uint8 tensors; not {type}.");
        }
    }

    /// <summary>What happens to one host bucket: its tensor view (for libtorch arithmetic) and its memory (for MPI).</summary>
    interface IBucketStep
    {
        bool CopiesIn { get; }

        bool CopiesOut { get; }

        void Apply<T>(Span<T> host, Tensor hostTensor) where T : unmanaged;
    }

    sealed class AllReduceStep(ICommunicator communicator, bool mean) : IBucketStep
    {
        public bool CopiesIn => true;

        public bool CopiesOut => true;

        public void Apply<T>(Span<T> host, Tensor hostTensor) where T : unmanaged
        {
            communicator.AllReduceSum(host);
            if (!mean) return;
            // Divided as DistributedDataParallel divides (by the world size), not multiplied by its inverse.
            using var size = communicator.Size.ToScalar();
            hostTensor.div_(size);
        }
    }

    sealed class BroadcastStep(ICommunicator communicator, int root) : IBucketStep
    {
        public bool CopiesIn => communicator.Rank == root;

        public bool CopiesOut => communicator.Rank != root;

        public void Apply<T>(Span<T> host, Tensor hostTensor) where T : unmanaged => communicator.Broadcast(host, root);
    }

    /// <summary>
    /// Treats <paramref name="tensors"/> as one flat sequence cut into buckets of at most <c>bucketBytes</c>; per bucket:
    /// copy the pieces in, apply the step, copy the pieces back. A tensor may straddle buckets.
    /// </summary>
    void Run<T>(ScalarType type, List<Tensor> tensors, IBucketStep step) where T : unmanaged
    {
        var elementSize = Marshal.SizeOf<T>();
        var capacity = Math.Max(1, Math.Min(maxBucketBytes, int.MaxValue) / elementSize);
        var sizes = tensors.Select(tensor => tensor.numel()).ToArray();
        var total = sizes.Sum();
        var buffer = Buffer(type, Math.Min(capacity, total));
        var first = 0; // the first tensor that reaches into the current bucket
        long firstStart = 0; // its start in the flat sequence
        for (long bucketStart = 0; bucketStart < total; bucketStart += capacity)
        {
            using var scope = NewDisposeScope();
            var bucketEnd = Math.Min(bucketStart + capacity, total);
            var used = bucketEnd - bucketStart;
            var pieces = new List<(Tensor Host, Tensor Device)>();
            long start = firstStart;
            for (var i = first; i < tensors.Count && start < bucketEnd; start += sizes[i], i++)
            {
                var end = start + sizes[i];
                if (end <= bucketStart) continue;
                var from = Math.Max(start, bucketStart);
                var to = Math.Min(end, bucketEnd);
                pieces.Add((buffer.narrow(0, from - bucketStart, to - from), tensors[i].view(-1).narrow(0, from - start, to - from)));
            }
            using (no_grad())
            {
                if (step.CopiesIn)
                    foreach (var (host, device) in pieces) host.copy_(device);
                var hostTensor = buffer.narrow(0, 0, used);
                step.Apply(MemoryMarshal.Cast<byte, T>(buffer.bytes)[..(int)used], hostTensor);
                if (step.CopiesOut)
                    foreach (var (host, device) in pieces) device.copy_(host);
            }
            // Skip the tensors that end inside this bucket; the next bucket starts with the one that straddles it.
            while (first < tensors.Count && firstStart + sizes[first] <= bucketEnd) firstStart += sizes[first++];
        }
    }

    /// <summary>A host buffer of at least <paramref name="elements"/>, reused across calls.</summary>
    Tensor Buffer(ScalarType type, long elements)
    {
        if (buffers.TryGetValue(type, out var existing) && existing.numel() >= elements) return existing;
        existing?.Dispose();
        // Never freed by a dispose scope: it lives as long as this object.
        var buffer = empty(elements, type, CPU).DetachFromDisposeScope();
        buffers[type] = buffer;
        return buffer;
    }

    public void Dispose()
    {
        foreach (var buffer in buffers.Values) buffer.Dispose();
        buffers.Clear();
    }
}
