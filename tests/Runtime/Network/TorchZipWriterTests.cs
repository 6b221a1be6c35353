using System.Collections;
using System.IO.Compression;
using ImprovedDdpm.Tests.Support;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ImprovedDdpm.Tests.Runtime.Network;

/// <summary>Our torch.save-format writer: records stored uncompressed, and a pickle that Python and PyBridge read.</summary>
public sealed class TorchZipWriterTests : IDisposable
{
    readonly string folder = Directory.CreateTempSubdirectory("improved-ddpm-torchzip-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Tensor_records_are_stored_uncompressed_as_torch_save_stores_them()
    {
        var path = Path.Combine(folder, "model.pt");
        using (var stream = File.Create(path))
            TorchZipWriter.WriteStateDict(stream, [new("a", zeros(64, 64)), new("b", ones(3, dtype: ScalarType.Int64))]);
        using var zip = ZipFile.OpenRead(path);
        Assert.Equal(["archive/data/0", "archive/data/1", "archive/data.pkl", "archive/byteorder", "archive/version"], zip.Entries.Select(e => e.FullName));
        Assert.All(zip.Entries, entry => Assert.Equal(entry.Length, entry.CompressedLength));
        Assert.Equal(64 * 64 * 4, zip.GetEntry("archive/data/0")!.Length);
    }

    [Fact]
    public void A_nested_object_reads_back_through_pybridge()
    {
        var path = Path.Combine(folder, "opt.pt");
        var moments = arange(6, dtype: ScalarType.Float32).reshape(2, 3);
        var root = new Hashtable
        {
            ["state"] = new Hashtable { [0] = new Hashtable { ["step"] = tensor(7f), ["exp_avg"] = moments } },
            ["param_groups"] = new ArrayList { new Hashtable { ["lr"] = 1e-4, ["betas"] = new object[] { 0.9, 0.999 }, ["amsgrad"] = false, ["fused"] = null, ["params"] = new ArrayList { 0, 1 }, ["big"] = 1L << 40 } },
        };
        using (var stream = File.Create(path)) TorchZipWriter.Write(stream, root);

        using var read = File.OpenRead(path);
        var back = PyTorchUnpickler.UnpickleStateDict(read);
        var state = (IDictionary)((IDictionary)back["state"]!)[0]!;
        var expAvg = (Tensor)state["exp_avg"]!;
        Assert.Equal([2L, 3], expAvg.shape);
        Assert.Equal(moments.data<float>().ToArray(), expAvg.data<float>().ToArray());
        Assert.Equal(7f, ((Tensor)state["step"]!).item<float>());
        var group = (IDictionary)((IList)back["param_groups"]!)[0]!;
        Assert.Equal(1e-4, group["lr"]);
        Assert.Equal(new object[] { 0.9, 0.999 }, (object[])group["betas"]!);
        Assert.Equal(false, group["amsgrad"]);
        Assert.Null(group["fused"]);
        Assert.Equal(1L << 40, Convert.ToInt64(group["big"]));
        Assert.Equal([0, 1], ((IEnumerable)group["params"]!).Cast<object>().Select(Convert.ToInt32));
    }

    const string Python = "/usr/bin/python3";

    [FactNeedingFile(Python)]
    public void Pythons_own_unpickler_reads_the_state_dict_in_order()
    {
        // No torch here, but Python's pickle module is the one torch.load drives: given stand-ins for torch's
        // classes, it must rebuild an OrderedDict of (storage key, dtype, size, stride) in the network's order.
        var path = Path.Combine(folder, "model.pt");
        using (var stream = File.Create(path))
            TorchZipWriter.WriteStateDict(stream, [new("out.2.weight", zeros(6, 32, 3, 3)), new("label_emb.weight", zeros(10, 128)), new("step", tensor(3L))]);
        const string script = """
            import pickle, sys, zipfile, collections
            class Storage:
                def __init__(self, name): self.name = name
            class Unpickler(pickle.Unpickler):
                def find_class(self, module, name):
                    if (module, name) == ('collections', 'OrderedDict'): return collections.OrderedDict
                    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
                        return lambda storage, offset, size, stride, grad, hooks: (storage, offset, size, stride, grad)
                    if module == 'torch' and name.endswith('Storage'): return name
                    raise pickle.UnpicklingError(module + '.' + name)
                def persistent_load(self, pid):
                    kind, storage, key, location, numel = pid
                    return (storage, key, location, numel)
            z = zipfile.ZipFile(sys.argv[1])
            d = Unpickler(z.open('archive/data.pkl')).load()
            for k, (storage, offset, size, stride, grad) in d.items():
                print(k, storage, offset, list(size), list(stride), grad, len(z.read('archive/data/' + storage[1])))
            """;
        using var process = ChildProcess.Start(Python, ["-c", script, path]);
        var output = process.AssertSucceeds(TimeSpan.FromMinutes(1));
        Assert.Equal(
            [
                "out.2.weight ('FloatStorage', '0', 'cpu', 1728) 0 [6, 32, 3, 3] [288, 9, 3, 1] False 6912",
                "label_emb.weight ('FloatStorage', '1', 'cpu', 1280) 0 [10, 128] [128, 1] False 5120",
                "step ('LongStorage', '2', 'cpu', 1) 0 [] [] False 8",
            ],
            output.Trim().Split('\n'));
    }
}
