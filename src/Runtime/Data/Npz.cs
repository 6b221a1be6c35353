using System.IO.Compression;
using System.Runtime.InteropServices;

namespace ImprovedDdpm;

/// <summary>
/// Reads a NumPy <c>.npz</c> archive (<c>np.savez</c> / <c>np.savez_compressed</c>): a zip of <c>.npy</c> arrays,
/// <c>arr_0.npy</c>, <c>arr_1.npy</c>, … for positional arrays. Arrays are addressed by name without <c>.npy</c>.
/// </summary>
public sealed class NpzReader : IDisposable
{
    readonly ZipArchive archive;

    /// <exception cref="DataException">The file does not exist or is not a zip archive.</exception>
    public NpzReader(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        if (!File.Exists(path)) throw new DataException(path, $"{path} does not exist");
        try
        {
            archive = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new DataException(path, $"{path} is not a NumPy .npz file (not a zip archive: {e.Message})", e);
        }
        Names = archive.Entries.Select(entry => entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName)
            .ToArray();
    }

    /// <summary>The archive's path.</summary>
    public string Path { get; }

    /// <summary>The arrays' names (<c>arr_0</c>, …), in archive order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Whether the archive holds an array called <paramref name="name"/>.</summary>
    public bool Contains(string name) => Entry(name) is not null;

    /// <summary>The header of array <paramref name="name"/>.</summary>
    /// <exception cref="DataException">No such array, or its header is not valid.</exception>
    public NpyHeader Header(string name)
    {
        using var stream = Open(name, out var header);
        return header;
    }

    /// <summary>
    /// Opens array <paramref name="name"/>, positioned at its first data byte (C order, little-endian); the caller
    /// disposes the stream.
    /// </summary>
    /// <exception cref="DataException">No such array, or its header is not valid.</exception>
    public Stream Open(string name, out NpyHeader header)
    {
        var entry = Entry(name) ?? throw new DataException(Path,
            $"{Path} has no array '{name}' (it holds {(Names.Count == 0 ? "none" : string.Join(", ", Names))})");
        var stream = entry.Open();
        try
        {
            header = NpyHeader.Read(stream, $"{Path}:{name}", Path);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads a uint8 array whole (at most 2 GiB).</summary>
    public byte[] ReadUInt8(string name, out NpyHeader header) => Read<byte>(name, NpyDType.UInt8, out header);

    /// <summary>Reads an integer array (int64, or int32 / uint8 widened) whole.</summary>
    public long[] ReadInt64(string name, out NpyHeader header)
    {
        using var stream = Open(name, out header);
        return header.DType switch
        {
            NpyDType.Int64 => ReadData<long>(stream, header, name),
            NpyDType.Int32 => Array.ConvertAll(ReadData<int>(stream, header, name), v => (long)v),
            NpyDType.UInt8 => Array.ConvertAll(ReadData<byte>(stream, header, name), v => (long)v),
            _ => throw new DataException(Path, $"{Path}:{name} is {header.Descr}; an integer array ('<i8', '<i4' or '|u1') was expected"),
        };
    }

    /// <summary>Reads a float32 array whole.</summary>
    public float[] ReadFloat32(string name, out NpyHeader header) => Read<float>(name, NpyDType.Float32, out header);

    /// <summary>Reads a float64 array whole.</summary>
    public double[] ReadFloat64(string name, out NpyHeader header) => Read<double>(name, NpyDType.Float64, out header);

    T[] Read<T>(string name, NpyDType dtype, out NpyHeader header) where T : unmanaged
    {
        using var stream = Open(name, out header);
        if (header.DType != dtype)
            throw new DataException(Path, $"{Path}:{name} is {header.Descr}; {NpyHeader.DescrOf(dtype)} was expected");
        return ReadData<T>(stream, header, name);
    }

    T[] ReadData<T>(Stream stream, NpyHeader header, string name) where T : unmanaged
    {
        if (header.FortranOrder)
            throw new DataException(Path, $"{Path}:{name} is stored in Fortran order; only C order is supported");
        if (header.ElementCount > Array.MaxLength)
            throw new DataException(Path, $"{Path}:{name} has {header.ElementCount} elements, too many to read at once");
        Npz.RequireLittleEndian();
        var values = new T[header.ElementCount];
        if (!NpyHeader.TryReadExactly(stream, MemoryMarshal.AsBytes(values.AsSpan())))
            throw new DataException(Path, $"{Path}:{name} is truncated: shape {header.ShapeText} needs {header.DataLength} bytes of data");
        return values;
    }

    ZipArchiveEntry? Entry(string name) => archive.GetEntry(name + ".npy") ?? archive.GetEntry(name);

    /// <inheritdoc />
    public void Dispose() => archive.Dispose();
}

/// <summary>
/// Writes a NumPy <c>.npz</c> archive as <c>np.savez</c> does: uncompressed (stored) zip entries named
/// <c>name.npy</c>, each an <c>.npy</c> array with NumPy's own header bytes.
/// </summary>
public sealed class NpzWriter : IDisposable
{
    readonly FileStream file;
    readonly ZipArchive archive;
    readonly HashSet<string> names = new(StringComparer.Ordinal);

    /// <summary>Creates (or overwrites) <paramref name="path"/>.</summary>
    public NpzWriter(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        archive = new ZipArchive(file, ZipArchiveMode.Create, leaveOpen: false);
    }

    /// <summary>The archive's path.</summary>
    public string Path { get; }

    /// <summary>Writes a uint8 array (<c>'|u1'</c>).</summary>
    public void Write(string name, ReadOnlySpan<byte> values, params long[] shape) => Write(name, NpyDType.UInt8, values, shape);

    /// <summary>Writes an int32 array (<c>'&lt;i4'</c>).</summary>
    public void Write(string name, ReadOnlySpan<int> values, params long[] shape) =>
        Write(name, NpyDType.Int32, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Writes an int64 array (<c>'&lt;i8'</c>).</summary>
    public void Write(string name, ReadOnlySpan<long> values, params long[] shape) =>
        Write(name, NpyDType.Int64, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Writes a float32 array (<c>'&lt;f4'</c>).</summary>
    public void Write(string name, ReadOnlySpan<float> values, params long[] shape) =>
        Write(name, NpyDType.Float32, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Writes a float64 array (<c>'&lt;f8'</c>).</summary>
    public void Write(string name, ReadOnlySpan<double> values, params long[] shape) =>
        Write(name, NpyDType.Float64, MemoryMarshal.AsBytes(values), shape);

    void Write(string name, NpyDType dtype, ReadOnlySpan<byte> data, long[] shape)
    {
        var header = new NpyHeader(dtype, shape);
        if (data.Length != header.DataLength)
            throw new ArgumentException($"{Path}:{name}: {data.Length} bytes of data for shape {header.ShapeText}, which needs {header.DataLength}", nameof(shape));
        using var stream = Create(name, header);
        stream.Write(data);
    }

    /// <summary>
    /// Starts array <paramref name="name"/> and returns a stream for its data (C order, little-endian), for arrays
    /// written piece by piece; disposing the stream checks that exactly <see cref="NpyHeader.DataLength"/> bytes were
    /// written. One array at a time.
    /// </summary>
    public Stream Create(string name, NpyHeader header)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(header);
        if (!names.Add(name)) throw new ArgumentException($"{Path} already has an array '{name}'", nameof(name));
        if (header.ElementSize > 1) Npz.RequireLittleEndian();
        var entry = archive.CreateEntry(name + ".npy", CompressionLevel.NoCompression);
        var stream = entry.Open();
        header.Write(stream);
        return new CountedStream(stream, header.DataLength, $"{Path}:{name} {header.ShapeText}");
    }

    /// <inheritdoc />
    public void Dispose() => archive.Dispose();

    /// <summary>Passes writes through and, on dispose, insists on the promised length.</summary>
    sealed class CountedStream(Stream inner, long expected, string what) : Stream
    {
        long written;
        bool disposed;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => written;
        public override long Position { get => written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (written + buffer.Length > expected)
                throw new InvalidOperationException($"{what}: more than the shape's {expected} bytes written");
            inner.Write(buffer);
            written += buffer.Length;
        }

        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !disposed)
            {
                disposed = true;
                inner.Dispose();
                if (written != expected)
                    throw new InvalidOperationException($"{what}: {written} bytes written, the shape needs {expected}");
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>Shortcuts for the <c>.npz</c> files the reference's scripts write.</summary>
public static class Npz
{
    /// <summary>
    /// Writes samples as the reference's <c>image_sample.py</c> does (<c>np.savez(out_path, arr, label_arr)</c>):
    /// <c>arr_0</c> uint8 images NHWC with shape <paramref name="shape"/> (N, H, W, C) and, for a class-conditional
    /// model, <c>arr_1</c> int64 labels of length N.
    /// </summary>
    public static void SaveSamples(string path, ReadOnlySpan<byte> imagesNhwc, long[] shape, ReadOnlySpan<long> labels = default)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length != 4) throw new ArgumentException($"samples are (N, H, W, C); shape has {shape.Length} dimensions", nameof(shape));
        if (!labels.IsEmpty && labels.Length != shape[0])
            throw new ArgumentException($"{labels.Length} labels for {shape[0]} images", nameof(labels));
        using var writer = new NpzWriter(path);
        writer.Write("arr_0", imagesNhwc, shape);
        if (!labels.IsEmpty) writer.Write("arr_1", labels, labels.Length);
    }

    internal static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException(".npy arrays of multi-byte elements are read and written little-endian only");
    }
}
