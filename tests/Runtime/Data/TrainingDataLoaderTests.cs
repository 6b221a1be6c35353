using System.Collections.Concurrent;
using System.Threading.Channels;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Data;

public sealed class TrainingDataLoaderTests
{
    /// <summary>Item i decodes to the value i everywhere, label i mod 3; records what was decoded; may fail at one index.</summary>
    sealed class IndexDataset(int count, bool labelled = false, int failAt = -1) : IImageDataset
    {
        public ConcurrentQueue<int> Decoded { get; } = new();
        public string Source => "index-dataset";
        public int Count => count;
        public int ImageSize => 2;
        public int Channels => 3;
        public IReadOnlyList<string>? ClassNames => labelled ? ["a", "b", "c"] : null;

        public int? Decode(int index, Span<float> destination)
        {
            if (index == failAt) throw new DataException("bad.png", "cannot read image bad.png: broken");
            Decoded.Enqueue(index);
            destination.Fill(index);
            return labelled ? index % 3 : null;
        }
    }

    /// <summary>The items of the next <paramref name="count"/> batches, read off the first pixel of each image.</summary>
    static List<int[]> Take(TrainingDataLoader loader, int count)
    {
        var batches = new List<int[]>();
        for (var b = 0; b < count; b++)
        {
            using var batch = loader.Next();
            Assert.Equal(ScalarType.Float32, batch.Images.dtype);
            Assert.Equal([loader.BatchSize, 3L, 2, 2], batch.Images.shape);
            using var firsts = batch.Images[.., 0, 0, 0];
            batches.Add(firsts.data<float>().Select(v => (int)v).ToArray());
        }
        return batches;
    }

    [Fact]
    public void Epoch_orders_are_permutations_fixed_by_seed_and_epoch()
    {
        var order = TrainingDataLoader.EpochOrder(50, seed: 7, epoch: 3);
        Assert.Equal(Enumerable.Range(0, 50), order.Order());
        Assert.Equal(order, TrainingDataLoader.EpochOrder(50, 7, 3));
        Assert.NotEqual(order, TrainingDataLoader.EpochOrder(50, 7, 4));
        Assert.NotEqual(order, TrainingDataLoader.EpochOrder(50, 8, 3));
        Assert.Equal(Enumerable.Range(0, 50), TrainingDataLoader.EpochOrder(50, 7, 3, shuffle: false));
    }

    [Fact]
    public void Ranks_take_disjoint_slices_of_the_global_batch_and_decode_only_theirs()
    {
        // 11 items, global batches of 2 ranks × 2: 2 batches per epoch, item 11 − 8 = 3 items dropped each epoch.
        using var whole = new TrainingDataLoader(new IndexDataset(11), batchSize: 4, seed: 5);
        var zeroData = new IndexDataset(11);
        using var zero = new TrainingDataLoader(zeroData, batchSize: 2, seed: 5, rank: 0, ranks: 2, prefetch: 1);
        using var one = new TrainingDataLoader(new IndexDataset(11), batchSize: 2, seed: 5, startBatch: 3, rank: 1, ranks: 2);
        Assert.Equal(2, zero.BatchesPerEpoch);
        var expected = Take(whole, 5);
        var zeros = Take(zero, 5);
        Assert.Equal(expected.Select(batch => batch[..2]), zeros);
        Assert.Equal(expected.Skip(3).Select(batch => batch[2..]), Take(one, 2)); // resumable at any batch, as one process
        // Rank 0 decoded only items of its own slices (of the batches taken and the few it decoded ahead): per batch b,
        // positions 0 and 1 of the global batch's 4 in epoch b / 2's order.
        // (The producer may be part-way through a batch ahead: a subset test, not an equality.)
        var ownSlices = Enumerable.Range(0, 5 + 2).Select(batch => TrainingDataLoader.EpochOrder(11, 5, batch / 2).AsSpan(batch % 2 * 4, 2).ToArray());
        var ownItems = ownSlices.SelectMany(slice => slice).ToHashSet();
        Assert.All(zeroData.Decoded, index => Assert.Contains(index, ownItems));
        Assert.InRange(zeroData.Decoded.Count, 5 * 2, 7 * 2); // 2 items a batch, not the global batch's 4
        Assert.Throws<DataException>(() => new TrainingDataLoader(new IndexDataset(7), batchSize: 2, seed: 5, rank: 1, ranks: 4));
    }

    [Fact]
    public void Batches_walk_each_epochs_order_and_drop_the_incomplete_last_batch()
    {
        using var loader = new TrainingDataLoader(new IndexDataset(10), batchSize: 3, seed: 42);
        Assert.Equal(3, loader.BatchesPerEpoch);
        var batches = Take(loader, 7);
        for (var b = 0; b < 7; b++)
        {
            var order = TrainingDataLoader.EpochOrder(10, 42, b / 3);
            Assert.Equal(order.Skip(b % 3 * 3).Take(3), batches[b]);
        }
        Assert.Equal(7, loader.NextBatch);
    }

    [Fact]
    public void The_same_seed_gives_the_same_stream_and_another_seed_another()
    {
        List<int[]> Run(long seed, int threads)
        {
            using var loader = new TrainingDataLoader(new IndexDataset(20), 4, seed, decodeThreads: threads);
            return Take(loader, 8);
        }
        var first = Run(5, 1);
        Assert.Equal(first, Run(5, 1));
        Assert.Equal(first, Run(5, 2));
        Assert.NotEqual(first, Run(6, 1));
    }

    [Fact]
    public void Starting_at_batch_k_equals_skipping_k_batches_without_decoding_them()
    {
        const int k = 50; // epoch 16, batch 2 of it
        List<int[]> skipped;
        using (var fresh = new TrainingDataLoader(new IndexDataset(10), 3, seed: 1))
            skipped = Take(fresh, k + 4).Skip(k).ToList();

        var dataset = new IndexDataset(10);
        using var resumed = new TrainingDataLoader(dataset, 3, seed: 1, startBatch: k, prefetch: 1);
        Assert.Equal(k, resumed.NextBatch);
        Assert.Equal(skipped, Take(resumed, 4));
        Assert.Equal(k + 4, resumed.NextBatch);
        // Decoded: the 4 batches taken and at most 2 ahead (one queued, one waiting to be), never the 50 skipped.
        Assert.InRange(dataset.Decoded.Count, 4 * 3, 6 * 3);
    }

    [Fact]
    public void Labels_come_as_int64_on_the_device_when_the_dataset_has_classes()
    {
        using var loader = new TrainingDataLoader(new IndexDataset(6, labelled: true), 3, seed: 0, device: CPU, shuffle: false);
        using var batch = loader.Next();
        Assert.NotNull(batch.Labels);
        Assert.Equal(ScalarType.Int64, batch.Labels!.dtype);
        Assert.Equal(TorchSharp.DeviceType.CPU, batch.Labels.device_type);
        Assert.Equal([0L, 1, 2], batch.Labels.data<long>().ToArray());
        using var second = loader.Next();
        Assert.Equal([0L, 1, 2], second.Labels!.data<long>().ToArray()); // items 3, 4, 5

        using var unlabelled = new TrainingDataLoader(new IndexDataset(6), 3, seed: 0);
        using var plain = unlabelled.Next();
        Assert.Null(plain.Labels);
    }

    [Fact]
    public void A_decoding_error_surfaces_from_next_after_the_good_batches()
    {
        using var loader = new TrainingDataLoader(new IndexDataset(9, failAt: 7), 2, seed: 0, shuffle: false);
        Assert.Equal([[0, 1], [2, 3], [4, 5]], Take(loader, 3));
        var e = Assert.Throws<DataException>(() => loader.Next());
        Assert.Equal("cannot read image bad.png: broken", e.Message);
        Assert.Throws<DataException>(() => loader.Next());
    }

    [Fact]
    public async Task Next_async_gives_the_same_batches()
    {
        using var loader = new TrainingDataLoader(new IndexDataset(8), 4, seed: 3);
        using var batch = await loader.NextAsync();
        using var firsts = batch.Images[.., 0, 0, 0];
        Assert.Equal(TrainingDataLoader.EpochOrder(8, 3, 0).Take(4), firsts.data<float>().Select(v => (int)v));
    }

    [Fact]
    public void Fewer_items_than_a_batch_is_refused()
    {
        var e = Assert.Throws<DataException>(() => new TrainingDataLoader(new IndexDataset(2), 3, seed: 0));
        Assert.Equal("index-dataset has 2 images, fewer than one batch of 3 (incomplete batches are dropped, as in the reference)", e.Message);
    }

    /// <summary>
    /// Lets a number of decodes through, then holds each further one at a gate until the test releases it; reports
    /// every decode as it arrives, so a test can see exactly how far the loader reads ahead.
    /// </summary>
    sealed class GatedDataset(int count, int open) : IImageDataset, IDisposable
    {
        readonly SemaphoreSlim gate = new(open);
        readonly Channel<int> arrivals = Channel.CreateUnbounded<int>();
        int arrived, finished;

        public string Source => "gated-dataset";
        public int Count => count;
        public int ImageSize => 2;
        public int Channels => 3;
        public IReadOnlyList<string>? ClassNames => null;

        /// <summary>Decodes that reached the dataset, and those that got through the gate and completed.</summary>
        public int Arrived => Volatile.Read(ref arrived);
        public int Finished => Volatile.Read(ref finished);

        /// <summary>Completes with the number of the next decode to arrive.</summary>
        public Task<int> NextArrival() => arrivals.Reader.ReadAsync().AsTask();

        public void Release() => gate.Release();

        public int? Decode(int index, Span<float> destination)
        {
            arrivals.Writer.TryWrite(Interlocked.Increment(ref arrived));
            // Bounded, so a failing test cannot leave the decoding thread (and Dispose, which joins it) stuck forever.
            if (!gate.Wait(Deadline)) throw new TimeoutException($"decode {arrived} was never let through");
            destination.Fill(index);
            Interlocked.Increment(ref finished);
            return null;
        }

        public void Dispose() => gate.Dispose();
    }

    static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>The value of <paramref name="task"/>, or a test failure naming <paramref name="what"/> after <see cref="Deadline"/>.</summary>
    static async Task<T> Within<T>(Task<T> task, string what)
    {
        try
        {
            return await task.WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"no {what} within {Deadline.TotalSeconds} s");
        }
    }

    [Fact]
    public async Task Dispose_stops_the_background_decoding()
    {
        // Batches of 10, one held ready: 20 decodes (batches 0 and 1) pass freely, every later one waits at the gate.
        using var dataset = new GatedDataset(100, open: 20);
        var loader = new TrainingDataLoader(dataset, 10, seed: 0, prefetch: 1);
        for (var i = 1; i <= 20; i++) Assert.Equal(i, await Within(dataset.NextArrival(), "decode of batches 0 and 1"));
        loader.Next().Dispose();
        // Batch 0 taken: batch 1 moves into the queue and batch 2 starts; its first decode waits at the gate, and no
        // other can start meanwhile (one decoding thread). The read-ahead is exactly one batch and one item.
        Assert.Equal(21, await Within(dataset.NextArrival(), "first decode of batch 2"));
        Assert.Equal(20, dataset.Finished);

        // Dispose while that decode is held, then let decodes through one at a time until Dispose returns: it must
        // stop the decoding within batch 2 (after it, the producer would wait on the full queue, which only
        // cancellation ends), and it returns only once no decode is under way.
        var disposing = Task.Run(loader.Dispose);
        for (var released = 0; !disposing.IsCompleted; released++)
        {
            Assert.True(released < 10, "decoding went on past batch 2 after Dispose");
            var next = dataset.NextArrival();
            dataset.Release();
            await Within(Task.WhenAny(disposing, next), "return of Dispose nor further decode");
        }
        await disposing;
        Assert.Equal(dataset.Arrived, dataset.Finished);
        Assert.InRange(dataset.Finished, 21, 30);
        Assert.Throws<ObjectDisposedException>(() => loader.Next());
        loader.Dispose();
    }
}
