using System.Buffers.Binary;
using System.Collections;
using System.Globalization;
using System.Text.Json;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Network weights in the formats the reference and its ecosystem use: PyTorch's zip checkpoints
/// (<c>torch.save(model.state_dict(), path)</c>, as improved-diffusion writes <c>model*.pt</c> and <c>ema_*.pt</c>) and
/// <c>.safetensors</c>. The format is chosen by extension: <c>.safetensors</c>, otherwise a PyTorch file
/// (<c>.pt</c>, <c>.pth</c>, …): the zip format <c>torch.save</c> writes since PyTorch 1.6, or, read by
/// <see cref="LegacyTorchFile"/>, the legacy format before it, in which older published weights come. Reading the zip
/// format and safetensors is TorchSharp.PyBridge's, writing the zip format <see cref="TorchZipWriter"/>'s; the strict
/// matching, the checks and the messages are ours.
/// </summary>
public static class Checkpoint
{
    const string SafetensorsExtension = ".safetensors";

    static ReadOnlySpan<byte> ZipSignature => "PK\u0003\u0004"u8;

    /// <summary>
    /// Loads a state dict into <paramref name="module"/>, strictly: every key the module has must be in the file with
    /// the same shape, and the file may hold no other key. Nothing is copied unless everything matches. Values are
    /// converted to each parameter's dtype and device.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is truncated, damaged (a zip entry whose CRC-32 does not match;
    /// the message names the entry) or not a checkpoint of either format.</exception>
    /// <exception cref="CheckpointMismatchException">A key is missing, unexpected, or has another shape; the message
    /// names the file and the first offending key (with both shapes for a mismatch): missing keys and shapes in the
    /// network's order, unexpected keys in the file's (alphabetical for a PyTorch file, whose dict keeps no order).</exception>
    public static void LoadStateDict(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        LoadStateDict(module.state_dict(), path);
    }

    /// <summary>
    /// Loads a state dict into the tensors of <paramref name="target"/> (for example weights kept beside a network, as
    /// an exponential moving average is), with the same strict matching as <see cref="LoadStateDict(nn.Module, string)"/>.
    /// </summary>
    public static void LoadStateDict(IReadOnlyDictionary<string, Tensor> target, string path)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var loaded = Read(path);
        try
        {
            Match(target, loaded, path);
            using (no_grad())
            {
                foreach (var (key, tensor) in target)
                    tensor.copy_(loaded[key]);
            }
        }
        finally
        {
            foreach (var tensor in loaded.Values) tensor.Dispose();
        }
    }

    /// <summary>
    /// Writes <paramref name="module"/>'s state dict to <paramref name="path"/>: <c>.safetensors</c> by that extension,
    /// otherwise a PyTorch zip checkpoint that <c>torch.load</c> reads as a dict of tensors. The file is written to a
    /// temporary file beside it and then renamed over <paramref name="path"/>, so a reader never sees half a checkpoint.
    /// </summary>
    public static void SaveStateDict(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        SaveStateDict(module.state_dict(), path);
    }

    /// <summary>
    /// Writes a state dict given as keys and tensors, in the network's key order, as
    /// <see cref="SaveStateDict(nn.Module, string)"/> does (for example a network's keys with moving-average weights).
    /// </summary>
    public static void SaveStateDict(IEnumerable<KeyValuePair<string, Tensor>> stateDict, string path)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.Write(path, stream =>
        {
            using var scope = NewDisposeScope();
            var state = stateDict.ToDictionary(entry => entry.Key, entry => entry.Value.detach().cpu().contiguous());
            if (IsSafetensors(path))
                Safetensors.SaveStateDict(stream, state, leaveOpen: true);
            else
                TorchZipWriter.WriteStateDict(stream, state);
        });
    }

    static bool IsSafetensors(string path) => Path.GetExtension(path).Equals(SafetensorsExtension, StringComparison.OrdinalIgnoreCase);

    static Dictionary<string, Tensor> Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Checkpoint {path} does not exist.", path);
        return IsSafetensors(path) ? ReadSafetensors(path) : ReadPyTorch(path);
    }

    static Dictionary<string, Tensor> ReadPyTorch(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> start = stackalloc byte[4];
        start = start[..stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false)];
        stream.Position = 0;
        IDictionary table;
        if (LegacyTorchFile.StartsWithPickle(start))
        {
            table = LegacyTorchFile.Read(stream, path) as IDictionary
                ?? throw new InvalidDataException($"{path} holds no dict; it is not a state dict (torch.save(model.state_dict())).");
        }
        else if (start.StartsWith(ZipSignature))
        {
            ZipIntegrity.Verify(stream, path);
            try
            {
                table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: true, skipTensorRead: false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new InvalidDataException($"{path} cannot be read as a PyTorch state dict; is it truncated or damaged? ({e.Message})", e);
            }
        }
        else
        {
            throw new InvalidDataException(
                $"{path} is not a PyTorch checkpoint: it starts neither with a zip header (torch.save since PyTorch 1.6) nor with the magic number of the legacy format before it.");
        }

        var notTensor = table.Keys.Cast<object>().FirstOrDefault(key => table[key] is not Tensor);
        if (notTensor is not null)
        {
            foreach (var value in table.Values) (value as Tensor)?.Dispose();
            // A checkpoint's opt file sits beside its model and EMA files and is the easiest one to pick by mistake.
            if (table.Contains("state") && table.Contains("param_groups"))
            {
                throw new InvalidDataException($"{path} holds an optimizer's state (as optNNNNNN.pt files do), not network weights: " +
                    "give a model or EMA checkpoint (modelNNNNNN.pt, ema_<rate>_NNNNNN.pt, ours or the reference's) or a .safetensors file");
            }
            throw new InvalidDataException($"{path}: entry '{notTensor}' is not a tensor; the file is not a plain state dict (torch.save(model.state_dict())).");
        }
        // The unpickled dict keeps no order: list the keys alphabetically so messages are reproducible.
        return table.Keys.Cast<object>()
            .Select(key => (Key: key.ToString()!, Tensor: (Tensor)table[key]!))
            .OrderBy(entry => entry.Key, StringComparer.Ordinal)
            .ToDictionary(entry => entry.Key, entry => entry.Tensor);
    }

    static Dictionary<string, Tensor> ReadSafetensors(string path)
    {
        CheckSafetensorsLayout(path);
        try
        {
            return Safetensors.LoadStateDict(path, keysToKeep: null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{path} cannot be read as safetensors ({e.Message})", e);
        }
    }

    /// <summary>
    /// PyBridge fills whatever a short file lacks with zeros, so a truncated file would load silently: check that the
    /// header is whole JSON and that the data it describes is all there.
    /// </summary>
    static void CheckSafetensorsLayout(string path)
    {
        using var stream = File.OpenRead(path);
        var length = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw new InvalidDataException($"{path} is not a safetensors file or is truncated: it holds only {length} bytes.");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)(length - 8) || headerLength > int.MaxValue)
            throw new InvalidDataException($"{path} is not a safetensors file or is truncated: its header claims {headerLength} bytes, the file holds {length}.");

        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataBytes = 0;
        try
        {
            using var document = JsonDocument.Parse(header);
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__") continue;
                var end = entry.Value.GetProperty("data_offsets")[1].GetInt64();
                dataBytes = Math.Max(dataBytes, end);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or IndexOutOfRangeException or FormatException)
        {
            throw new InvalidDataException($"{path} is not a safetensors file: its header is not a safetensors JSON index ({e.Message})", e);
        }

        var available = length - 8 - (long)headerLength;
        if (dataBytes > available)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{path} is truncated: its header describes {dataBytes} bytes of tensor data, the file holds {available}."));
        }
    }

    static void Match(IReadOnlyDictionary<string, Tensor> expected, Dictionary<string, Tensor> loaded, string path)
    {
        var missing = expected.Keys.Where(key => !loaded.ContainsKey(key)).ToList();
        var unexpected = loaded.Keys.Where(key => !expected.ContainsKey(key)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            var problems = new List<string>();
            if (missing.Count > 0)
                problems.Add($"missing key '{missing[0]}'{More(missing.Count, "missing")}");
            if (unexpected.Count > 0)
                problems.Add($"unexpected key '{unexpected[0]}'{More(unexpected.Count, "unexpected")}");
            throw new CheckpointMismatchException(path, missing.Count > 0 ? missing[0] : unexpected[0],
                $"{path} does not match the network: {string.Join("; ", problems)}.");
        }

        foreach (var (key, target) in expected)
        {
            var source = loaded[key];
            if (!source.shape.SequenceEqual(target.shape))
            {
                throw new CheckpointMismatchException(path, key,
                    $"{path} does not match the network: '{key}' has shape {Shape(source)} in the checkpoint, the network's is {Shape(target)}.");
            }
        }
    }

    static string More(int count, string what) => count > 1 ? $" ({count - 1} more {what})" : "";

    static string Shape(Tensor tensor) => $"[{string.Join(", ", tensor.shape)}]";
}

/// <summary>A checkpoint whose keys or shapes differ from the network's; <see cref="Key"/> is the first offending key.</summary>
public sealed class CheckpointMismatchException(string path, string key, string message) : Exception(message)
{
    public string Path { get; } = path;

    public string Key { get; } = key;
}
