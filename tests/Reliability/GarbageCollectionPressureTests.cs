using System.Diagnostics;
using ImprovedDdpm.Tests.Generator;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Reliability;

/// <summary>
/// Training steps, sampling loops, bits/dim and the evaluation metrics while another thread forces blocking full
/// collections and runs pending finalizers without pause. A TorchSharp Scalar that lives only as a call's temporary
/// (dotnet/TorchSharp#1434) is finalized mid-call under this load. Before the Scalars were held it failed 3 runs of 3
/// within the first round ("Expected false to be true … toFloat at c10/core/Scalar.h"): in ResBlock's x + y (alpha = 1
/// passed implicitly), twice, and in TorchSharp's AdamW.step.
/// </summary>
[Collection(nameof(GarbageCollectionPressureTests))]
public sealed class GarbageCollectionPressureTests(ITestOutputHelper output)
{
    /// <summary>
    /// How long the work runs under the collections, in rounds of every piece; each collection stops the world, so a
    /// round takes 10–30 s here. Before the fix a run failed within the first round's training steps.
    /// </summary>
    static readonly TimeSpan Budget = TimeSpan.FromSeconds(40);

    [Fact]
    public void Training_sampling_bits_per_dim_and_metrics_survive_constant_collections()
    {
        var runDirectory = Directory.CreateTempSubdirectory("improved-ddpm-gc-").FullName;
        try
        {
            using var collector = new ConstantCollections();
            var watch = Stopwatch.StartNew();
            var counts = new Dictionary<string, int>();
            void Count(string work) => counts[work] = counts.GetValueOrDefault(work) + 1;

            using var network = TinyCond.CreateNetwork();
            var diffusion = TinyCond.CreateDiffusion();
            var options = new TrainingOptions { BatchSize = 4, EmaRates = [0.99, 0.9999], WeightDecay = 0.01, LrAnnealSteps = 1000, ScheduleSampler = ScheduleSampler.LossSecondMoment };
            using var loop = new TrainLoop(network, diffusion, options, runDirectory, _ => Enumerable.Empty<TrainingBatch>().GetEnumerator());
            using var generator = new TorchSharp.torch.Generator(7);
            using var two = 2.ToScalar();
            using var one = 1.ToScalar();
            for (var round = 0; round == 0 || watch.Elapsed < Budget; round++)
            {
                for (var step = 0; step < 4; step++)
                {
                    using var batch = new TrainingBatch(rand([4, 3, 8, 8], generator: generator).mul_(two).sub_(one),
                        randint(10, [4], generator: generator));
                    var report = loop.TrainOn(batch);
                    Assert.True(double.IsFinite(report.Loss), $"step {report.Step}: loss {report.Loss}");
                    Count("training steps");
                }

                network.eval();
                using (var scope = NewDisposeScope())
                {
                    using var noise = new SeededNoiseSource(round);
                    var labels = randint(10, [2], generator: generator);
                    var ancestral = diffusion.PSampleLoop((IDiffusionNetwork)network, [2, 3, 8, 8], noise, y: labels);
                    var ddim = diffusion.DdimSampleLoop((IDiffusionNetwork)network, [2, 3, 8, 8], noise, eta: 0.5, y: labels);
                    Assert.False(ancestral.isnan().any().item<bool>() || ddim.isnan().any().item<bool>(), "a sample holds NaN");
                    Count("sampling loops");

                    var bpd = diffusion.CalcBpdLoop((IDiffusionNetwork)network, ancestral, noise, y: labels);
                    Assert.True(bpd.TotalBpd.isfinite().all().item<bool>(), "bits/dim are not finite");
                    Count("bits/dim loops");
                }

                var real = rand([96, 16], generator: generator);
                var fake = rand([96, 16], generator: generator);
                var realValues = real.data<float>().ToArray();
                var fakeValues = fake.data<float>().ToArray();
                var fid = FrechetDistance.Compute(FeatureStatistics.FromFeatures(realValues, 16), FeatureStatistics.FromFeatures(fakeValues, 16));
                Assert.True(double.IsFinite(fid), $"FID {fid}");
                var pr = PrecisionRecall.Compute(real, fake);
                Assert.InRange(pr.Precision, 0, 1);
                real.Dispose();
                fake.Dispose();
                Count("metrics");
                network.train();
            }

            output.WriteLine($"{watch.Elapsed.TotalSeconds:F1} s, {collector.Collections} forced full collections: " +
                string.Join(", ", counts.Select(c => $"{c.Value} {c.Key}")));
            Assert.True(collector.Collections > 100, $"only {collector.Collections} collections ran beside the work");
        }
        finally
        {
            Directory.Delete(runDirectory, recursive: true);
        }
    }

    /// <summary>A thread that forces blocking full collections and drains the finalizer queue until disposed.</summary>
    sealed class ConstantCollections : IDisposable
    {
        readonly Thread thread;
        volatile bool stop;
        int collections;

        public ConstantCollections()
        {
            thread = new Thread(() =>
            {
                while (!stop)
                {
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
                    GC.WaitForPendingFinalizers();
                    Interlocked.Increment(ref collections);
                }
            }) { IsBackground = true, Name = "forced collections" };
            thread.Start();
        }

        public int Collections => Volatile.Read(ref collections);

        public void Dispose()
        {
            stop = true;
            if (!thread.Join(TimeSpan.FromSeconds(30))) throw new TimeoutException("the collecting thread did not stop within 30 s");
        }
    }
}

/// <summary>Runs alone: forced full collections stop every thread of the test process, and would slow every other test.</summary>
[CollectionDefinition(nameof(GarbageCollectionPressureTests), DisableParallelization = true)]
public sealed class GarbageCollectionPressureCollection;
