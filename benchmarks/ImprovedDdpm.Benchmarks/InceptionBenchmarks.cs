using BenchmarkDotNet.Attributes;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// FID Inception-v3 features (<see cref="InceptionFeatures.FromUInt8Nhwc"/>: resize to 299, pool3 and logits) of one
/// batch of 32×32 images, the per-image cost of <c>evaluate</c>. Random weights: the speed does not depend on them.
/// </summary>
public class InceptionBenchmarks
{
    FidInceptionV3 network = null!;
    byte[] images = null!;

    [Params(1, 10, 50)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        network = new FidInceptionV3();
        images = new byte[BatchSize * 32 * 32 * 3];
        new Random(0).NextBytes(images);
    }

    [Benchmark]
    public int Features() => InceptionFeatures.FromUInt8Nhwc(network, images, [BatchSize, 32, 32, 3], BatchSize).Sum(batch => batch.Count);

    [GlobalCleanup]
    public void Cleanup() => network.Dispose();
}
