using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>The pickle opcodes <see cref="PickleReader"/> reads and <see cref="TorchZipWriter"/> writes (Python's Lib/pickle.py).</summary>
internal static class PickleOpcodes
{
    // Framing and the stack.
    public const byte Proto = 0x80, Frame = 0x95, Stop = (byte)'.', Mark = (byte)'(', Pop = (byte)'0', PopMark = (byte)'1', Dup = (byte)'2';

    // Constants and numbers.
    public const byte None = (byte)'N', NewTrue = 0x88, NewFalse = 0x89, BinInt = (byte)'J', BinInt1 = (byte)'K', BinInt2 = (byte)'M',
        Long1 = 0x8a, Long4 = 0x8b, Int = (byte)'I', Long = (byte)'L', BinFloat = (byte)'G', Float = (byte)'F';

    // Strings and bytes.
    public const byte BinUnicode = (byte)'X', ShortBinUnicode = 0x8c, BinUnicode8 = 0x8d, ShortBinString = (byte)'U', BinString = (byte)'T',
        ShortBinBytes = (byte)'C', BinBytes = (byte)'B', BinBytes8 = 0x8e;

    // Containers.
    public const byte EmptyTuple = (byte)')', TupleFromMark = (byte)'t', Tuple1 = 0x85, Tuple2 = 0x86, Tuple3 = 0x87, EmptyList = (byte)']',
        List = (byte)'l', Append = (byte)'a', Appends = (byte)'e', EmptyDict = (byte)'}', Dict = (byte)'d', SetItem = (byte)'s', SetItems = (byte)'u';

    // Objects, persistent ids and the memo.
    public const byte Global = (byte)'c', StackGlobal = 0x93, Reduce = (byte)'R', NewObj = 0x81, Build = (byte)'b', BinPersId = (byte)'Q',
        PersId = (byte)'P', BinPut = (byte)'q', LongBinPut = (byte)'r', Put = (byte)'p', Memoize = 0x94, BinGet = (byte)'h',
        LongBinGet = (byte)'j', Get = (byte)'g';
}

/// <summary>PyTorch's storage classes (<c>torch.FloatStorage</c>, …) as the pickles of <c>torch.save</c> name them.</summary>
internal static class TorchStorageTypes
{
    static readonly (ScalarType Dtype, string Name, int ElementSize)[] Table =
    [
        (ScalarType.Float32, "FloatStorage", 4),
        (ScalarType.Float64, "DoubleStorage", 8),
        (ScalarType.Float16, "HalfStorage", 2),
        (ScalarType.BFloat16, "BFloat16Storage", 2),
        (ScalarType.Int64, "LongStorage", 8),
        (ScalarType.Int32, "IntStorage", 4),
        (ScalarType.Int16, "ShortStorage", 2),
        (ScalarType.Int8, "CharStorage", 1),
        (ScalarType.Byte, "ByteStorage", 1),
        (ScalarType.Bool, "BoolStorage", 1),
    ];

    /// <summary>The class name in module <c>torch</c> for <paramref name="dtype"/>, or null for a dtype PyTorch has no storage class for.</summary>
    public static string? NameOf(ScalarType dtype) => Table.FirstOrDefault(entry => entry.Dtype == dtype).Name;

    /// <summary>The dtype and element size of the class <paramref name="name"/> in module <c>torch</c>, if it is one.</summary>
    public static bool TryParse(string name, out ScalarType dtype, out int elementSize)
    {
        foreach (var entry in Table)
        {
            if (entry.Name != name) continue;
            (dtype, elementSize) = (entry.Dtype, entry.ElementSize);
            return true;
        }
        (dtype, elementSize) = (default, 0);
        return false;
    }
}
