using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace ImprovedDdpm;

/// <summary>One array of an <c>.npz</c> file: NumPy dtype string (<c>|u1</c>, <c>&lt;i8</c>, …), shape and raw
/// little-endian C-order bytes.</summary>
public sealed record NpyArray(string Dtype, long[] Shape, byte[] Data)
{
    /// <summary>A uint8 array (e.g. NHWC images).</summary>
    public static NpyArray FromBytes(byte[] values, params long[] shape) => new("|u1", shape, values);

    /// <summary>An int64 array (e.g. class labels).</summary>
    public static NpyArray FromInt64(long[] values) => new("<i8", [values.LongLength], MemoryMarshalBytes(values));

    /// <summary>The values as int64, from any of the integer dtypes labels are stored in.</summary>
    public long[] ToInt64() => Dtype switch
    {
        "<i8" => Enumerable.Range(0, Data.Length / 8).Select(i => BitConverter.ToInt64(Data, 8 * i)).ToArray(),
        "<i4" => Enumerable.Range(0, Data.Length / 4).Select(i => (long)BitConverter.ToInt32(Data, 4 * i)).ToArray(),
        "|u1" => Data.Select(b => (long)b).ToArray(),
        _ => throw new InvalidDataException($"expected integers; the array has dtype {Dtype}"),
    };

    static byte[] MemoryMarshalBytes(long[] values)
    {
        var bytes = new byte[values.Length * 8];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }
}

/// <summary>
/// NumPy's <c>.npz</c> (a zip of <c>.npy</c> files, as <c>np.savez</c> writes them), the format the reference's sampler
/// writes and its evaluation tools read: <c>arr_0</c> NHWC uint8 images, <c>arr_1</c> labels.
/// </summary>
public static partial class Npz
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Writes the arrays atomically (a temporary file, then a rename), uncompressed as <c>np.savez</c> does.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, NpyArray Array)> arrays)
    {
        var temporary = path + ".tmp";
        using (var file = File.Create(temporary))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        {
            foreach (var (name, array) in arrays)
            {
                using var entry = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression).Open();
                WriteNpy(entry, array);
            }
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads every array, by name without <c>.npy</c>.</summary>
    /// <exception cref="InvalidDataException">The file is not an npz NumPy could have written; the message names it.</exception>
    public static Dictionary<string, NpyArray> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such .npz file: {path}", path);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var arrays = new Dictionary<string, NpyArray>();
            foreach (var entry in zip.Entries.Where(e => e.Name.EndsWith(".npy", StringComparison.Ordinal)))
            {
                using var stream = entry.Open();
                arrays[entry.Name[..^4]] = ReadNpy(stream, entry.Name);
            }
            return arrays;
        }
        catch (InvalidDataException error)
        {
            throw new InvalidDataException($"{path} is not a valid .npz file: {error.Message}", error);
        }
    }

    static void WriteNpy(Stream stream, NpyArray array)
    {
        var shape = array.Shape.Length == 1
            ? $"({array.Shape[0].ToString(CultureInfo.InvariantCulture)},)"
            : "(" + string.Join(", ", array.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";
        var header = $"{{'descr': '{array.Dtype}', 'fortran_order': False, 'shape': {shape}, }}";
        // Version 1.0: magic, version, a 2-byte header length; the header is padded so the data starts 64-byte aligned.
        var unpadded = Magic.Length + 2 + 2 + header.Length + 1;
        header = header + new string(' ', (64 - (unpadded % 64)) % 64) + "\n";
        stream.Write(Magic);
        stream.Write([1, 0]);
        stream.Write(BitConverter.GetBytes((ushort)header.Length));
        stream.Write(Encoding.ASCII.GetBytes(header));
        stream.Write(array.Data);
    }

    static NpyArray ReadNpy(Stream stream, string name)
    {
        var preamble = new byte[8];
        stream.ReadExactly(preamble);
        if (!preamble.AsSpan(0, 6).SequenceEqual(Magic)) throw new InvalidDataException($"{name} is not a .npy array");
        var lengthBytes = new byte[preamble[6] == 1 ? 2 : 4];
        stream.ReadExactly(lengthBytes);
        var headerLength = lengthBytes.Length == 2 ? BitConverter.ToUInt16(lengthBytes) : (int)BitConverter.ToUInt32(lengthBytes);
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = Encoding.ASCII.GetString(headerBytes);

        var match = HeaderPattern().Match(header);
        if (!match.Success) throw new InvalidDataException($"{name}: unreadable header {header.Trim()}");
        if (match.Groups["fortran"].Value == "True") throw new InvalidDataException($"{name}: Fortran-ordered arrays are not supported");
        var dtype = match.Groups["descr"].Value;
        var shape = match.Groups["shape"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        var itemSize = dtype switch
        {
            "|u1" or "<u1" or "|i1" => 1,
            "<i4" or "<f4" => 4,
            "<i8" or "<f8" => 8,
            _ => throw new InvalidDataException($"{name}: dtype {dtype} is not supported (uint8, int32, int64, float32, float64 are)"),
        };
        var data = new byte[shape.Aggregate(1L, (a, b) => a * b) * itemSize];
        try
        {
            stream.ReadExactly(data);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{name}: the data is shorter than its shape ({string.Join("x", shape)}) requires");
        }
        return new NpyArray(dtype, shape, data);
    }

    [GeneratedRegex(@"'descr':\s*'(?<descr>[^']+)'.*'fortran_order':\s*(?<fortran>True|False).*'shape':\s*\((?<shape>[^)]*)\)", RegexOptions.Singleline)]
    private static partial Regex HeaderPattern();
}
