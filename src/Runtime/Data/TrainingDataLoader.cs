using System.Threading.Channels;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// An endless stream of <see cref="TrainingBatch"/>es drawn from an <see cref="IImageDataset"/> (reference:
/// <c>load_data</c>, a PyTorch <c>DataLoader</c> with <c>drop_last=True</c> looped forever). Epoch e visits the items
/// in a permutation fixed by (seed, e) (<see cref="EpochOrder"/>); each epoch yields
/// <see cref="BatchesPerEpoch"/> = ⌊count / batch size⌋ batches and drops the rest, as the reference does.
/// Batches are numbered from 0 across epochs, and a loader can start at any batch (to resume a run) without decoding
/// the items before it: starting at batch k gives exactly what a fresh loader gives after k batches.
/// </summary>
/// <remarks>
/// Decoding runs on a background task, up to <c>prefetch</c> batches ahead (a bounded channel), so the training step
/// does not wait on it; the tensors are made on the consumer's thread when <see cref="Next"/> hands a batch over, so they
/// belong to the consumer's dispose scope if it has one. The shuffle is our own (SplitMix64 and Fisher–Yates): the
/// reference's order comes from PyTorch's global generator and cannot be reproduced, only its statistics.
/// A decoding error stops the stream: <see cref="Next"/> throws it (a <see cref="DataException"/> naming the file) once
/// the batches decoded before it have been taken. Use from one consumer thread.
/// </remarks>
public sealed class TrainingDataLoader : IDisposable
{
    readonly IImageDataset dataset;
    readonly Device device;
    readonly long seed;
    readonly bool shuffle;
    readonly int decodeThreads;
    readonly Channel<DecodedBatch> channel;
    readonly CancellationTokenSource stop = new();
    readonly Task producer;
    bool disposed;

    /// <param name="dataset">The items; labelled batches when it has <see cref="IImageDataset.ClassNames"/>.</param>
    /// <param name="batchSize">Images per batch.</param>
    /// <param name="seed">Fixes every epoch's order.</param>
    /// <param name="device">Where the batch tensors are made (CPU by default).</param>
    /// <param name="startBatch">The first batch to produce (e.g. the training step to resume from).</param>
    /// <param name="shuffle">False gives the items in dataset order every epoch (the reference's
    /// <c>deterministic=True</c>).</param>
    /// <param name="prefetch">Decoded batches held ready at most.</param>
    /// <param name="decodeThreads">Threads decoding the items of a batch in parallel.</param>
    /// <param name="rank">This process's index among <paramref name="ranks"/> training together.</param>
    /// <param name="ranks">Processes training together: the epoch is cut into global batches of
    /// <paramref name="ranks"/> × <paramref name="batchSize"/> items, and this loader decodes only its slice
    /// [rank·batchSize, (rank+1)·batchSize) of each, so the ranks never share an item within an epoch and together see
    /// exactly what one process of batch size ranks × batchSize sees.</param>
    /// <exception cref="DataException">The dataset has fewer items than one (global) batch.</exception>
    public TrainingDataLoader(IImageDataset dataset, int batchSize, long seed, Device? device = null, long startBatch = 0,
        bool shuffle = true, int prefetch = 2, int decodeThreads = 1, int rank = 0, int ranks = 1)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(startBatch);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(decodeThreads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, ranks);
        if (dataset.Count < (long)batchSize * ranks)
        {
            throw new DataException(dataset.Source, ranks == 1
                ? $"{dataset.Source} has {dataset.Count} images, fewer than one batch of {batchSize} (incomplete batches are dropped, as in the reference)"
                : $"{dataset.Source} has {dataset.Count} images, fewer than one global batch of {ranks} processes × {batchSize} (incomplete batches are dropped, as in the reference)");
        }
        this.dataset = dataset;
        this.device = device ?? CPU;
        this.seed = seed;
        this.shuffle = shuffle;
        this.decodeThreads = decodeThreads;
        BatchSize = batchSize;
        Rank = rank;
        Ranks = ranks;
        NextBatch = startBatch;
        channel = Channel.CreateBounded<DecodedBatch>(new BoundedChannelOptions(prefetch)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var token = stop.Token;
        producer = Task.Run(() => ProduceAsync(startBatch, token), CancellationToken.None);
    }

    /// <summary>The dataset batches are drawn from.</summary>
    public IImageDataset Dataset => dataset;

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; }

    /// <summary>This process's share of each global batch (0 … <see cref="Ranks"/> − 1).</summary>
    public int Rank { get; }

    /// <summary>Processes sharing each global batch.</summary>
    public int Ranks { get; }

    /// <summary>Full (global) batches per epoch: ⌊count / (ranks × batch size)⌋.</summary>
    public int BatchesPerEpoch => (int)(dataset.Count / ((long)BatchSize * Ranks));

    /// <summary>The number of the batch <see cref="Next"/> returns next (counting from 0 across epochs).</summary>
    public long NextBatch { get; private set; }

    /// <summary>
    /// The order epoch <paramref name="epoch"/> visits <paramref name="count"/> items in: a permutation fixed by
    /// (<paramref name="seed"/>, <paramref name="epoch"/>), or 0, 1, … without <paramref name="shuffle"/>.
    /// </summary>
    public static int[] EpochOrder(int count, long seed, long epoch, bool shuffle = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = i;
        if (!shuffle) return order;
        var random = new SplitMix64(SplitMix64.Mix(SplitMix64.Mix((ulong)seed) + (ulong)epoch));
        for (var i = count - 1; i > 0; i--)
        {
            var j = (int)random.NextBelow((ulong)i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>The next batch, waiting for it to be decoded if it is not ready; the caller disposes it.</summary>
    /// <exception cref="DataException">An item of this batch could not be decoded.</exception>
    public TrainingBatch Next()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        DecodedBatch? decoded;
        while (!channel.Reader.TryRead(out decoded))
        {
            // Completes with the producer's exception, if it failed; false only once disposal stopped it.
            if (!channel.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
                ObjectDisposedException.ThrowIf(true, this);
        }
        return ToBatch(decoded);
    }

    /// <summary>The next batch, without blocking a thread while it is decoded; the caller disposes it.</summary>
    /// <exception cref="DataException">An item of this batch could not be decoded.</exception>
    public async ValueTask<TrainingBatch> NextAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        DecodedBatch? decoded;
        while (!channel.Reader.TryRead(out decoded))
        {
            if (!await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                ObjectDisposedException.ThrowIf(true, this);
        }
        return ToBatch(decoded);
    }

    TrainingBatch ToBatch(DecodedBatch decoded)
    {
        var batch = decoded.Items.ToBatch(dataset, device);
        NextBatch = decoded.Index + 1;
        return batch;
    }

    async Task ProduceAsync(long firstBatch, CancellationToken token)
    {
        try
        {
            var perEpoch = BatchesPerEpoch;
            int[]? order = null;
            var orderEpoch = -1L;
            for (var batch = firstBatch; ; batch++)
            {
                token.ThrowIfCancellationRequested();
                var epoch = batch / perEpoch;
                if (epoch != orderEpoch)
                {
                    order = EpochOrder(dataset.Count, seed, epoch, shuffle);
                    orderEpoch = epoch;
                }
                var items = order!.AsSpan((int)(batch % perEpoch) * BatchSize * Ranks + Rank * BatchSize, BatchSize).ToArray();
                var decoded = new DecodedBatch(batch, DecodedItems.Decode(dataset, items, decodeThreads, token));
                await channel.Writer.WriteAsync(decoded, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            channel.Writer.TryComplete();
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            channel.Writer.TryComplete(e.InnerExceptions[0]);
        }
        catch (Exception e)
        {
            channel.Writer.TryComplete(e);
        }
    }

    /// <summary>Stops the background decoding and waits for it to end; batches already returned stay valid.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        stop.Cancel();
        producer.Wait(); // never faults: the producer reports its errors through the channel
        stop.Dispose();
    }

    sealed record DecodedBatch(long Index, DecodedItems Items);

    /// <summary>SplitMix64 (Steele, Lea and Flood 2014): a tiny generator whose sequence is fixed by its seed on every platform.</summary>
    struct SplitMix64(ulong state)
    {
        public static ulong Mix(ulong z)
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public ulong Next()
        {
            state += 0x9E3779B97F4A7C15UL;
            return Mix(state);
        }

        /// <summary>Uniform on [0, n) without modulo bias (Lemire's multiply-and-reject).</summary>
        public ulong NextBelow(ulong n)
        {
            var high = Math.BigMul(Next(), n, out var low);
            if (low < n)
            {
                var threshold = (0 - n) % n;
                while (low < threshold) high = Math.BigMul(Next(), n, out low);
            }
            return high;
        }
    }
}
