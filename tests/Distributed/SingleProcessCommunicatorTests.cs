using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Distributed;

/// <summary>With one process every collective is the identity, so code written for K ranks runs unchanged at K = 1.</summary>
public sealed class SingleProcessCommunicatorTests
{
    readonly ICommunicator single = SingleProcessCommunicator.Instance;

    [Fact]
    public void Collectives_leave_the_values_as_they_are()
    {
        Assert.Equal((0, 1, true), (single.Rank, single.Size, single.IsRoot));
        float[] values = [1.5f, -2f];
        single.AllReduceSum<float>(values);
        single.Broadcast<float>(values);
        single.Barrier();
        Assert.Equal([1.5f, -2f], values);
        Assert.Equal([3.0, 4.0], single.AllGather<double>([3.0, 4.0]));
        var parts = single.AllGatherVariable<byte>([7, 8, 9]);
        Assert.Equal([7, 8, 9], Assert.Single(parts));
        Assert.Throws<ArgumentOutOfRangeException>(() => single.Broadcast<long>(new long[1], root: 1));
    }

    [Fact]
    public void Element_types_without_an_mpi_counterpart_are_refused_at_K_1_too()
    {
        // Refused in a plain run as under MPI, so such code fails on a laptop rather than on the cluster.
        var error = Assert.Throws<NotSupportedException>(() => single.AllReduceSum<short>(new short[2]));
        Assert.Equal("Collectives carry byte, int, long, float and double; not Int16.", error.Message);
    }

    [Fact]
    public void Tensor_collectives_return_at_once_and_change_nothing()
    {
        using var collectives = new TensorCollectives(single);
        using var gradient = tensor(new[] { 1f, 2f, 3f });
        using var model = nn.Linear(2, 2);
        var before = model.weight!.data<float>().ToArray();
        collectives.AllReduceMean([gradient]);
        collectives.Broadcast([gradient]);
        collectives.BroadcastModule(model);
        Assert.Equal([1f, 2f, 3f], gradient.data<float>().ToArray());
        Assert.Equal(before, model.weight!.data<float>().ToArray());
    }
}
