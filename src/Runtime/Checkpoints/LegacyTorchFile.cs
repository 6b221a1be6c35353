using System.Buffers.Binary;
using System.Numerics;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Reads PyTorch's legacy <c>torch.save</c> format, the one before PyTorch 1.6 (and after it with
/// <c>_use_new_zipfile_serialization=False</c>), in which published weights such as pytorch-fid's
/// <c>pt_inception-2015-12-05-6726825d.pth</c> are distributed. The file is a sequence of pickles followed by raw
/// storages: the magic number, the protocol version (1001), a system-info dict, the object (its storages as persistent
/// ids <c>('storage', StorageClass, key, location, numel, view)</c>), the sorted list of storage keys, and then each
/// storage as an int64 element count and its little-endian elements.
/// </summary>
/// <remarks>
/// Only what a state dict holds is accepted: dicts (OrderedDict), tensors (<c>torch._utils._rebuild_tensor_v2</c>,
/// <c>_rebuild_tensor</c>, <c>_rebuild_parameter</c>), plain values. Nothing in the file is executed, so a file naming
/// any other class or function is refused with its name.
/// </remarks>
internal static class LegacyTorchFile
{
    static readonly BigInteger MagicNumber = BigInteger.Parse("1950a86a20f9469cfc6c", System.Globalization.NumberStyles.HexNumber);

    const long ProtocolVersion = 1001;

    /// <summary>
    /// Whether <paramref name="start"/>, the file's first bytes, opens a binary pickle (the <c>PROTO</c> opcode), as the
    /// format's first pickle, the magic number, does whatever protocol <c>torch.save</c> was given; <see cref="Read"/>
    /// then checks the number itself.
    /// </summary>
    public static bool StartsWithPickle(ReadOnlySpan<byte> start) => start.Length >= 2 && start[0] == 0x80 && start[1] is >= 2 and <= 5;

    /// <summary>
    /// Reads the object the file holds, with its tensors on the CPU (as <c>torch.load(map_location='cpu')</c>). Dicts come
    /// back as <see cref="Dictionary{TKey, TValue}"/>, tensors as <see cref="Tensor"/>; see <see cref="PickleReader"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not in the format, is truncated, or holds more than a state dict.</exception>
    public static object? Read(Stream stream, string path)
    {
        try
        {
            return ReadUnchecked(stream);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path} is truncated: it ends at byte {stream.Length} inside the checkpoint.");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path} cannot be read as a legacy PyTorch checkpoint: {e.Message}", e);
        }
    }

    static object? ReadUnchecked(Stream stream)
    {
        var storages = new Dictionary<string, Storage>();
        var tensors = new List<PendingTensor>();
        var reader = new PickleReader(stream, (function, arguments) => Call(function, arguments, tensors), id => LoadStorage(id, storages));

        if (reader.Load() is not BigInteger magic || magic != MagicNumber)
            throw new InvalidDataException("it does not start with torch.save's magic number");
        if (reader.Load() is not long protocol || protocol != ProtocolVersion)
            throw new InvalidDataException($"its protocol version is not {ProtocolVersion}");
        if (reader.Load() is Dictionary<object, object?> systemInfo && systemInfo.TryGetValue("little_endian", out var little) && little is false)
            throw new InvalidDataException("it was written on a big-endian machine, whose storages this reader does not swap");

        var result = reader.Load();
        if (reader.Load() is not List<object?> keys)
            throw new InvalidDataException("the list of storage keys after the object is missing");
        foreach (var key in keys)
        {
            var name = key as string ?? throw new InvalidDataException($"storage key {key} is not a string");
            if (!storages.TryGetValue(name, out var storage))
                throw new InvalidDataException($"storage '{name}' is listed but no tensor uses it");
            storage.ReadData(stream);
        }

        using (var scope = NewDisposeScope())
        {
            foreach (var pending in tensors) pending.Materialize();
            foreach (var pending in tensors) pending.Value!.MoveToOuterDisposeScope();
        }
        return Resolve(result);
    }

    /// <summary>Replaces the placeholders the pickle built for tensors with the tensors, now that the storages are read.</summary>
    static object? Resolve(object? value)
    {
        switch (value)
        {
            case PendingTensor pending:
                return pending.Value;
            case Dictionary<object, object?> dict:
                foreach (var key in dict.Keys.ToList()) dict[key] = Resolve(dict[key]);
                return dict;
            case List<object?> list:
                for (var i = 0; i < list.Count; i++) list[i] = Resolve(list[i]);
                return list;
            case object?[] tuple:
                for (var i = 0; i < tuple.Length; i++) tuple[i] = Resolve(tuple[i]);
                return tuple;
            default:
                return value;
        }
    }

    static object? Call(PickleGlobal function, object?[] arguments, List<PendingTensor> tensors)
    {
        switch (function.Module, function.Name)
        {
            case ("collections", "OrderedDict"):
                if (arguments.Length != 0) throw new InvalidDataException("OrderedDict is built with arguments");
                return new Dictionary<object, object?>();
            case ("torch._utils", "_rebuild_tensor_v2" or "_rebuild_tensor"):
                {
                    // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
                    if (arguments.Length < 4) throw new InvalidDataException($"{function} has {arguments.Length} arguments, not at least 4");
                    var tensor = new PendingTensor(
                        arguments[0] as Storage ?? throw new InvalidDataException($"{function} is not given a storage"),
                        Integer(arguments[1], "storage offset"), Sizes(arguments[2], "size"), Sizes(arguments[3], "stride"));
                    tensors.Add(tensor);
                    return tensor;
                }
            case ("torch._utils", "_rebuild_parameter"):
                return arguments.Length >= 1 && arguments[0] is PendingTensor data ? data : throw new InvalidDataException($"{function} is not given a tensor");
            default:
                throw new InvalidDataException($"it calls {function}, which a state dict never holds; only state dicts (tensors in dicts) are read");
        }
    }

    static Storage LoadStorage(object? id, Dictionary<string, Storage> storages)
    {
        // ('storage', storage class, root key, location, numel, view metadata (view key, offset, numel) or None)
        if (id is not object?[] { Length: 6 } fields || fields[0] is not "storage")
            throw new InvalidDataException("a persistent id is not a storage");
        var type = fields[1] as PickleGlobal ?? throw new InvalidDataException("a storage has no storage class");
        var key = fields[2] as string ?? throw new InvalidDataException("a storage key is not a string");
        var numel = Integer(fields[4], "storage size");
        if (!storages.TryGetValue(key, out var root))
        {
            var (dtype, elementSize) = StorageType(type);
            storages[key] = root = new Storage(key, dtype, elementSize, numel);
        }
        if (fields[5] is null) return root;
        if (fields[5] is not object?[] { Length: 3 } view || view[0] is not string viewKey)
            throw new InvalidDataException($"storage '{key}' has a malformed view");
        return new Storage(viewKey, root.Dtype, root.ElementSize, Integer(view[2], "view size"), root, Integer(view[1], "view offset"));
    }

    static (ScalarType Dtype, int ElementSize) StorageType(PickleGlobal type) =>
        type.Module == "torch" && TorchStorageTypes.TryParse(type.Name, out var dtype, out var elementSize)
            ? (dtype, elementSize)
            : throw new InvalidDataException($"storage class {type} is not supported");

    static long Integer(object? value, string what) => value as long? ?? throw new InvalidDataException($"a tensor's {what} is not an integer");

    static long[] Sizes(object? value, string what) =>
        value is object?[] items ? items.Select(item => Integer(item, what)).ToArray() : throw new InvalidDataException($"a tensor's {what} is not a tuple");

    /// <summary>A storage named by the pickle: a root, whose bytes follow the pickles, or a view into one.</summary>
    sealed class Storage(string key, ScalarType dtype, int elementSize, long numel, Storage? root = null, long rootOffset = 0)
    {
        byte[]? data;

        public string Key => key;

        public ScalarType Dtype => dtype;

        public int ElementSize => elementSize;

        public long Numel => numel;

        /// <summary>Reads the root's elements: an int64 count, which must be the pickle's, then the bytes.</summary>
        public void ReadData(Stream stream)
        {
            Span<byte> count = stackalloc byte[8];
            stream.ReadExactly(count);
            var stored = BinaryPrimitives.ReadInt64LittleEndian(count);
            if (stored != numel) throw new InvalidDataException($"storage '{key}' holds {stored} elements, its tensors expect {numel}");
            var bytes = numel * elementSize;
            if (bytes > Array.MaxLength) throw new InvalidDataException($"storage '{key}' of {bytes} bytes is too large");
            data = new byte[bytes];
            stream.ReadExactly(data);
        }

        /// <summary>The root storage as a flat tensor and this storage's element offset into it.</summary>
        public (Tensor Flat, long Offset) Flat()
        {
            if (root is not null)
            {
                var (flat, offset) = root.Flat();
                if (rootOffset < 0 || rootOffset + numel > root.Numel)
                    throw new InvalidDataException($"view '{key}' reaches past its storage '{root.Key}'");
                return (flat, offset + rootOffset);
            }
            if (data is null) throw new InvalidDataException($"storage '{key}' is used but not in the list of storages");
            if (flatTensor is null)
            {
                flatTensor = empty(numel, dtype);
                if (numel > 0) flatTensor.bytes = data;
            }
            return (flatTensor, 0);
        }

        Tensor? flatTensor;
    }

    /// <summary>A tensor the pickle describes before its storage's bytes have been read.</summary>
    sealed class PendingTensor(Storage storage, long offset, long[] size, long[] stride)
    {
        public Tensor? Value { get; private set; }

        public void Materialize()
        {
            if (size.Length != stride.Length)
                throw new InvalidDataException($"a tensor on storage '{storage.Key}' has {size.Length} sizes and {stride.Length} strides");
            var (flat, start) = storage.Flat();
            var last = offset;
            foreach (var (extent, step) in size.Zip(stride))
            {
                if (extent < 0 || step < 0) throw new InvalidDataException($"a tensor on storage '{storage.Key}' has a negative size or stride");
                if (extent == 0) { last = -1; break; }
                last += (extent - 1) * step;
            }
            if (offset < 0 || last >= storage.Numel)
                throw new InvalidDataException($"a tensor reaches past the {storage.Numel} elements of storage '{storage.Key}'");
            // A contiguous copy of its own, as every caller expects of a loaded state dict's tensors.
            Value = empty(size, flat.dtype);
            Value.copy_(flat.as_strided(size, stride, start + offset));
        }
    }
}
