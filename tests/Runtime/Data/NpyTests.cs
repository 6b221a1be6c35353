using System.IO.Compression;
using System.Text;

namespace ImprovedDdpm.Tests.Runtime.Data;

/// <summary>.npy headers byte for byte as NumPy writes them, and .npz archives both ways.</summary>
public sealed class NpyTests
{
    /// <summary>What NumPy (1.24) writes: magic, version 1.0, little-endian header length, then the dict padded.</summary>
    static byte[] NumPyHeader(string dict, int total)
    {
        var headerLength = total - 10;
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange("NUMPY"u8.ToArray());
        bytes.AddRange([1, 0, (byte)(headerLength & 0xFF), (byte)(headerLength >> 8)]);
        bytes.AddRange(Encoding.ASCII.GetBytes(dict.PadRight(headerLength - 1)));
        bytes.Add((byte)'\n');
        return [.. bytes];
    }

    [Fact]
    public void Header_of_uint8_images_is_numpys_to_the_byte()
    {
        var expected = NumPyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4, 4, 3), }", 128);
        Assert.Equal(expected, new NpyHeader(NpyDType.UInt8, [2, 4, 4, 3]).ToBytes());
        Assert.Equal(0, expected.Length % 64);
        Assert.Equal((byte)'\n', expected[^1]);
    }

    [Fact]
    public void Headers_of_other_dtypes_and_shapes_are_numpys()
    {
        Assert.Equal(NumPyHeader("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", 128),
            new NpyHeader(NpyDType.Int64, [5]).ToBytes());
        Assert.Equal(NumPyHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 128),
            new NpyHeader(NpyDType.Int32, [3]).ToBytes());
        Assert.Equal(NumPyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 128),
            new NpyHeader(NpyDType.Float32, []).ToBytes());
        Assert.Equal(NumPyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 128),
            new NpyHeader(NpyDType.Float64, [2, 3]).ToBytes());
    }

    [Fact]
    public void Header_leaves_numpys_room_for_the_first_axis_to_grow()
    {
        // NumPy >= 1.24 adds 21 - len(str(shape[0])) spaces before padding: this dict (101 characters) alone would fit
        // in 128 bytes, with the spare 20 it takes 192.
        var dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (" + string.Join(", ", Enumerable.Repeat("1", 16)) + "), }";
        Assert.Equal(101, dict.Length);
        Assert.Equal(NumPyHeader(dict, 192), new NpyHeader(NpyDType.UInt8, Enumerable.Repeat(1L, 16).ToArray()).ToBytes());
    }

    [Fact]
    public void Reads_headers_numpy_and_other_writers_produce()
    {
        var header = Read(NumPyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4, 4, 3), }", 128));
        Assert.Equal(NpyDType.UInt8, header.DType);
        Assert.Equal([2L, 4, 4, 3], header.Shape);
        Assert.False(header.FortranOrder);
        Assert.Equal(96, header.DataLength);

        // Keys in another order, double quotes, Python 2 longs, no trailing comma, version 2.0's 4-byte length.
        var text = "{\"shape\": (7L, 2L), \"fortran_order\": True, \"descr\": \"<i8\"}";
        var v2 = new List<byte> { 0x93 };
        v2.AddRange("NUMPY"u8.ToArray());
        v2.AddRange([2, 0]);
        v2.AddRange(BitConverter.GetBytes(text.Length + 1));
        v2.AddRange(Encoding.ASCII.GetBytes(text + "\n"));
        header = Read([.. v2]);
        Assert.Equal(NpyDType.Int64, header.DType);
        Assert.Equal([7L, 2], header.Shape);
        Assert.True(header.FortranOrder);
    }

    [Fact]
    public void Refuses_what_it_cannot_read_with_the_reason()
    {
        var e = Assert.Throws<DataException>(() => Read("PK\x03\x04 not npy"u8.ToArray()));
        Assert.Contains("x.npy is not a NumPy .npy array", e.Message);
        e = Assert.Throws<DataException>(() => Read(NumPyHeader("{'descr': '>i8', 'fortran_order': False, 'shape': (5,), }", 128)));
        Assert.Contains("x.npy has dtype '>i8'", e.Message);
        e = Assert.Throws<DataException>(() => Read(NumPyHeader("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (5,), }", 128)));
        Assert.Contains("no 'descr' string", e.Message);
        e = Assert.Throws<DataException>(() => Read(NumPyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4", 128)));
        Assert.Contains("unreadable .npy header", e.Message);
        e = Assert.Throws<DataException>(() => Read(NumPyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", 128)[..40]));
        Assert.Contains("x.npy ends inside its .npy header", e.Message);
    }

    [Fact]
    public void Npz_round_trip_as_np_savez_writes_it()
    {
        using var temp = new TempFolder();
        var path = temp.File("samples.npz");
        var images = Enumerable.Range(0, 2 * 4 * 4 * 3).Select(i => (byte)i).ToArray();
        Npz.SaveSamples(path, images, [2, 4, 4, 3], new long[] { 7, 9 });

        using (var zip = ZipFile.OpenRead(path))
        {
            Assert.Equal(["arr_0.npy", "arr_1.npy"], zip.Entries.Select(e => e.FullName));
            Assert.All(zip.Entries, e => Assert.Equal(e.Length, e.CompressedLength)); // stored, as np.savez
            using var stream = zip.GetEntry("arr_0.npy")!.Open();
            var prefix = new byte[128];
            stream.ReadExactly(prefix);
            Assert.Equal(new NpyHeader(NpyDType.UInt8, [2, 4, 4, 3]).ToBytes(), prefix);
        }

        using var npz = new NpzReader(path);
        Assert.Equal(["arr_0", "arr_1"], npz.Names);
        Assert.Equal(images, npz.ReadUInt8("arr_0", out var header));
        Assert.Equal("(2, 4, 4, 3)", header.ShapeText);
        Assert.Equal([7L, 9L], npz.ReadInt64("arr_1", out header));
        Assert.Equal(NpyDType.Int64, header.DType);
    }

    [Fact]
    public void Npz_writer_checks_lengths_and_widens_int32_labels_on_reading()
    {
        using var temp = new TempFolder();
        var path = temp.File("arrays.npz");
        using (var writer = new NpzWriter(path))
        {
            writer.Write("labels", new[] { 3, 1, 2 }, 3);
            writer.Write("values", new[] { 0.5f, -1f }, 2);
            var e = Assert.Throws<ArgumentException>(() => writer.Write("short", new byte[5], 2, 3));
            Assert.Contains("5 bytes of data for shape (2, 3), which needs 6", e.Message);
            using (var stream = writer.Create("pieces", new NpyHeader(NpyDType.UInt8, [2, 2])))
            {
                stream.Write(new byte[] { 1, 2 });
                stream.Write(new byte[] { 3, 4 });
            }
        }
        using var npz = new NpzReader(path);
        Assert.Equal([3L, 1, 2], npz.ReadInt64("labels", out _));
        Assert.Equal([0.5f, -1f], npz.ReadFloat32("values", out _));
        Assert.Equal([1, 2, 3, 4], npz.ReadUInt8("pieces", out _));
        var missing = Assert.Throws<DataException>(() => npz.Header("arr_0"));
        Assert.Equal($"{path} has no array 'arr_0' (it holds labels, values, pieces)", missing.Message);
        var wrong = Assert.Throws<DataException>(() => npz.ReadUInt8("values", out _));
        Assert.Contains("values is <f4; |u1 was expected", wrong.Message);
    }

    [Fact]
    public void Float64_arrays_round_trip_through_an_npz()
    {
        using var temp = new TempFolder();
        var path = temp.File("statistics.npz");
        double[] sigma = [1.0, 0.25, 0.25, double.Epsilon];
        using (var writer = new NpzWriter(path)) writer.Write("sigma", sigma, 2, 2);
        using var npz = new NpzReader(path);
        Assert.Equal(sigma, npz.ReadFloat64("sigma", out var header));
        Assert.Equal(("<f8", "(2, 2)"), (header.Descr, header.ShapeText));
        var wrong = Assert.Throws<DataException>(() => npz.ReadFloat32("sigma", out _));
        Assert.Contains("sigma is <f8; <f4 was expected", wrong.Message);
    }

    static NpyHeader Read(byte[] bytes) => NpyHeader.Read(new MemoryStream(bytes), "x.npy");
}
