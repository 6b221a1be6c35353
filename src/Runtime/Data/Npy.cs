using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace ImprovedDdpm;

/// <summary>The element types an <c>.npy</c> array may have here, by their NumPy <c>descr</c>.</summary>
public enum NpyDType
{
    /// <summary><c>'|u1'</c>: uint8 (images).</summary>
    UInt8,

    /// <summary><c>'&lt;i4'</c>: little-endian int32.</summary>
    Int32,

    /// <summary><c>'&lt;i8'</c>: little-endian int64 (NumPy's default integer; labels).</summary>
    Int64,

    /// <summary><c>'&lt;f4'</c>: little-endian float32.</summary>
    Float32,

    /// <summary><c>'&lt;f8'</c>: little-endian float64.</summary>
    Float64,
}

/// <summary>
/// The header of an <c>.npy</c> array (NumPy's format, versions 1.0 to 3.0): element type, C or Fortran order and shape.
/// <see cref="Write"/> produces exactly the bytes NumPy's <c>np.save</c> writes for a C-ordered array.
/// </summary>
public sealed record NpyHeader(NpyDType DType, long[] Shape, bool FortranOrder = false)
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>NumPy's <c>ARRAY_ALIGN</c>: data starts at a multiple of 64 bytes.</summary>
    const int Alignment = 64;

    /// <summary>NumPy's <c>GROWTH_AXIS_MAX_DIGITS</c>: spare spaces so the first axis can grow in place (NumPy ≥ 1.24).</summary>
    const int GrowthAxisMaxDigits = 21;

    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long ElementCount => Shape.Aggregate(1L, (product, dimension) => checked(product * dimension));

    /// <summary>Bytes per element.</summary>
    public int ElementSize => SizeOf(DType);

    /// <summary>Bytes of data after the header.</summary>
    public long DataLength => checked(ElementCount * ElementSize);

    /// <summary>The shape as NumPy prints it: <c>(2, 4, 4, 3)</c>, <c>(5,)</c>, <c>()</c>.</summary>
    public string ShapeText => Shape.Length == 1 ? $"({Shape[0]},)" : $"({string.Join(", ", Shape)})";

    /// <summary>The NumPy <c>descr</c> string of <see cref="DType"/>, e.g. <c>|u1</c> or <c>&lt;i8</c>.</summary>
    public string Descr => DescrOf(DType);

    /// <summary>Bytes per element of <paramref name="dtype"/>.</summary>
    public static int SizeOf(NpyDType dtype) => dtype switch
    {
        NpyDType.UInt8 => 1,
        NpyDType.Int32 or NpyDType.Float32 => 4,
        NpyDType.Int64 or NpyDType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The NumPy <c>descr</c> of <paramref name="dtype"/>.</summary>
    public static string DescrOf(NpyDType dtype) => dtype switch
    {
        NpyDType.UInt8 => "|u1",
        NpyDType.Int32 => "<i4",
        NpyDType.Int64 => "<i8",
        NpyDType.Float32 => "<f4",
        NpyDType.Float64 => "<f8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>
    /// The header bytes NumPy writes: magic, version 1.0 (2.0 when the header outgrows 65535 bytes), the header length,
    /// the dict <c>{'descr': …, 'fortran_order': …, 'shape': …, }</c>, spaces up to a 64-byte boundary, then <c>'\n'</c>.
    /// </summary>
    public byte[] ToBytes()
    {
        foreach (var dimension in Shape) ArgumentOutOfRangeException.ThrowIfNegative(dimension, nameof(Shape));
        var dict = $"{{'descr': '{Descr}', 'fortran_order': {(FortranOrder ? "True" : "False")}, 'shape': {ShapeText}, }}";
        if (Shape.Length > 0)
        {
            var growing = Shape[FortranOrder ? ^1 : 0].ToString(CultureInfo.InvariantCulture);
            dict += new string(' ', GrowthAxisMaxDigits - growing.Length);
        }
        var text = Encoding.ASCII.GetBytes(dict);

        foreach (var (major, lengthBytes) in new[] { (1, 2), (2, 4) })
        {
            var preamble = Magic.Length + 2 + lengthBytes;
            var unpadded = text.Length + 1; // the closing '\n'
            var padding = Alignment - (preamble + unpadded) % Alignment; // NumPy pads a whole 64 when already aligned
            var headerLength = unpadded + padding;
            if (lengthBytes == 2 && headerLength > ushort.MaxValue) continue;

            var bytes = new byte[preamble + headerLength];
            Magic.CopyTo(bytes, 0);
            bytes[6] = (byte)major;
            bytes[7] = 0;
            if (lengthBytes == 2) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerLength);
            else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)headerLength);
            text.CopyTo(bytes, preamble);
            bytes.AsSpan(preamble + text.Length, padding).Fill((byte)' ');
            bytes[^1] = (byte)'\n';
            return bytes;
        }
        throw new InvalidOperationException("an .npy header cannot be longer than 4 GiB");
    }

    /// <summary>Writes <see cref="ToBytes"/> to <paramref name="stream"/>.</summary>
    public void Write(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(ToBytes());
    }

    /// <summary>
    /// Reads a header from <paramref name="stream"/>, leaving it at the first data byte. <paramref name="source"/> names
    /// the array in messages (e.g. <c>samples.npz:arr_0</c>).
    /// </summary>
    /// <exception cref="DataException">Not an .npy header, or an element type this reader does not support.</exception>
    public static NpyHeader Read(Stream stream, string source, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        path ??= source;
        Span<byte> preamble = stackalloc byte[8];
        if (!TryReadExactly(stream, preamble) || !preamble[..6].SequenceEqual(Magic))
            throw new DataException(path, $"{source} is not a NumPy .npy array (it does not start with \\x93NUMPY)");
        var major = preamble[6];
        int headerLength;
        Span<byte> length = stackalloc byte[4];
        switch (major)
        {
            case 1:
                if (!TryReadExactly(stream, length[..2])) throw Truncated(source, path);
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(length);
                break;
            case 2 or 3:
                if (!TryReadExactly(stream, length)) throw Truncated(source, path);
                var wide = BinaryPrimitives.ReadUInt32LittleEndian(length);
                if (wide > 1 << 24) throw new DataException(path, $"{source} claims a {wide}-byte .npy header");
                headerLength = (int)wide;
                break;
            default:
                throw new DataException(path, $"{source} is .npy format version {major}.{preamble[7]}; versions 1.0 to 3.0 are supported");
        }
        var headerBytes = new byte[headerLength];
        if (!TryReadExactly(stream, headerBytes)) throw Truncated(source, path);
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        return Parse(header, source, path);
    }

    static NpyHeader Parse(string header, string source, string path)
    {
        Dictionary<string, object?> dict;
        try
        {
            dict = new PythonLiteralParser(header).ParseDict();
        }
        catch (FormatException e)
        {
            throw new DataException(path, $"{source} has an unreadable .npy header {header.Trim()}: {e.Message}", e);
        }
        if (!dict.TryGetValue("descr", out var descrValue) || descrValue is not string descr)
            throw new DataException(path, $"{source}: the .npy header {header.Trim()} has no 'descr' string (structured dtypes are not supported)");
        if (!dict.TryGetValue("fortran_order", out var orderValue) || orderValue is not bool fortranOrder)
            throw new DataException(path, $"{source}: the .npy header {header.Trim()} has no 'fortran_order' True/False");
        if (!dict.TryGetValue("shape", out var shapeValue) || shapeValue is not long[] shape || shape.Any(d => d < 0))
            throw new DataException(path, $"{source}: the .npy header {header.Trim()} has no 'shape' tuple of sizes");
        var dtype = descr switch
        {
            "|u1" or "<u1" or ">u1" or "u1" => NpyDType.UInt8,
            "<i4" => NpyDType.Int32,
            "<i8" => NpyDType.Int64,
            "<f4" => NpyDType.Float32,
            "<f8" => NpyDType.Float64,
            _ => throw new DataException(path,
                $"{source} has dtype '{descr}'; supported are '|u1' (uint8), '<i4', '<i8', '<f4' and '<f8' (little-endian)"),
        };
        return new NpyHeader(dtype, shape, fortranOrder);
    }

    static DataException Truncated(string source, string path) => new(path, $"{source} ends inside its .npy header");

    internal static bool TryReadExactly(Stream stream, Span<byte> buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = stream.Read(buffer[read..]);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    /// <summary>
    /// Reads the Python literal NumPy writes as a header: a dict of string keys to strings, True/False, and tuples of
    /// integers (a trailing <c>L</c>, as Python 2 wrote, is accepted). Lists and nested dicts parse but are returned as
    /// lists, which the caller rejects.
    /// </summary>
    sealed class PythonLiteralParser(string text)
    {
        int position;

        public Dictionary<string, object?> ParseDict()
        {
            Expect('{');
            var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
            while (true)
            {
                SkipSpace();
                if (TryTake('}')) break;
                if (ParseValue() is not string key) throw new FormatException($"a key at offset {position} is not a string");
                Expect(':');
                dict[key] = ParseValue();
                SkipSpace();
                if (TryTake('}')) break;
                Expect(',');
            }
            SkipSpace();
            if (position != text.Length) throw new FormatException($"unexpected text after the dict at offset {position}");
            return dict;
        }

        object? ParseValue()
        {
            SkipSpace();
            if (position >= text.Length) throw new FormatException("the header ends inside a value");
            var c = text[position];
            if (c is '\'' or '"') return ParseString(c);
            if (c is '(' or '[') return ParseSequence(c == '(' ? ')' : ']');
            if (c == '{')
            {
                var depth = 0;
                do
                {
                    if (text[position] == '{') depth++;
                    else if (text[position] == '}') depth--;
                    position++;
                } while (depth > 0 && position < text.Length);
                return new List<object?>();
            }
            var start = position;
            while (position < text.Length && (char.IsAsciiLetterOrDigit(text[position]) || text[position] is '-' or '+' or '_'))
                position++;
            var word = text[start..position];
            return word switch
            {
                "True" => true,
                "False" => false,
                "None" => null,
                _ when long.TryParse(word.TrimEnd('L'), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) => number,
                _ => throw new FormatException($"unexpected '{word}' at offset {start}"),
            };
        }

        object ParseSequence(char close)
        {
            position++;
            var items = new List<object?>();
            while (true)
            {
                SkipSpace();
                if (TryTake(close)) break;
                items.Add(ParseValue());
                SkipSpace();
                if (TryTake(close)) break;
                Expect(',');
            }
            if (close == ')' && items.All(item => item is long)) return items.Cast<long>().ToArray();
            return items;
        }

        string ParseString(char quote)
        {
            var end = text.IndexOf(quote, position + 1);
            if (end < 0) throw new FormatException($"unterminated string at offset {position}");
            var value = text[(position + 1)..end];
            position = end + 1;
            return value;
        }

        void SkipSpace()
        {
            while (position < text.Length && char.IsWhiteSpace(text[position])) position++;
        }

        bool TryTake(char c)
        {
            if (position < text.Length && text[position] == c)
            {
                position++;
                return true;
            }
            return false;
        }

        void Expect(char c)
        {
            SkipSpace();
            if (!TryTake(c)) throw new FormatException($"expected '{c}' at offset {position}");
        }
    }
}
