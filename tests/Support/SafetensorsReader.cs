using System.Buffers.Binary;
using System.Text.Json;

namespace ImprovedDdpm.Tests.Support;

/// <summary>One tensor of a fixture file, as float64 (or int64) values in row-major order.</summary>
public sealed record FixtureTensor(string DType, long[] Shape, double[] Values, long[]? Integers)
{
    public long[] AsLongs() => Integers ?? throw new InvalidOperationException($"tensor is {DType}, not I64");

    public TorchSharp.torch.Tensor ToTorch() => Integers is not null
        ? TorchSharp.torch.tensor(Integers, Shape)
        : DType == "F64"
            ? TorchSharp.torch.tensor(Values, Shape)
            : TorchSharp.torch.tensor(Values.Select(v => (float)v).ToArray(), Shape);
}

/// <summary>
/// Reads the safetensors layout directly (8-byte little-endian header length, JSON header, raw little-endian data),
/// so fixtures load without depending on the code under test.
/// </summary>
public static class SafetensorsReader
{
    public static IReadOnlyDictionary<string, FixtureTensor> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var dataStart = 8 + headerLength;
        var result = new Dictionary<string, FixtureTensor>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            var dtype = entry.Value.GetProperty("dtype").GetString()!;
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var data = bytes.AsSpan(dataStart + (int)offsets[0], (int)(offsets[1] - offsets[0]));
            result[entry.Name] = dtype switch
            {
                "F64" => new FixtureTensor(dtype, shape, Convert(data, 8, s => BinaryPrimitives.ReadDoubleLittleEndian(s)), null),
                "F32" => new FixtureTensor(dtype, shape, Convert(data, 4, s => BinaryPrimitives.ReadSingleLittleEndian(s)), null),
                "I64" => Integers(dtype, shape, data),
                _ => throw new InvalidDataException($"{path}: tensor {entry.Name} has unsupported dtype {dtype}"),
            };
        }
        return result;
    }

    delegate double Decode(ReadOnlySpan<byte> bytes);

    static double[] Convert(ReadOnlySpan<byte> data, int size, Decode decode)
    {
        var values = new double[data.Length / size];
        for (var i = 0; i < values.Length; i++) values[i] = decode(data.Slice(i * size, size));
        return values;
    }

    static FixtureTensor Integers(string dtype, long[] shape, ReadOnlySpan<byte> data)
    {
        var values = new long[data.Length / 8];
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(data.Slice(i * 8, 8));
        return new FixtureTensor(dtype, shape, values.Select(v => (double)v).ToArray(), values);
    }
}
