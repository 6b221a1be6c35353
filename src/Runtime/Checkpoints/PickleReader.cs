using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using static ImprovedDdpm.PickleOpcodes;

namespace ImprovedDdpm;

/// <summary>A class or function a pickle names by module and name (the <c>GLOBAL</c> opcodes); never imported, only matched.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>
/// A Python unpickler for the data a <c>torch.save</c> file holds: the binary opcodes of protocols 0–5 that build
/// None, booleans, integers, floats, strings, bytes, tuples, lists and dicts, the memo, and persistent ids. Nothing is
/// ever imported or executed: a call (<c>REDUCE</c>, <c>NEWOBJ</c>) goes to <paramref name="call"/>, which knows the few
/// globals a state dict uses and refuses the rest, and a persistent id goes to <paramref name="persistentLoad"/>.
/// </summary>
/// <remarks>
/// Values: None → null, bool, long (or <see cref="BigInteger"/> beyond 64 bits), double, string (protocol 2's byte
/// strings decoded as UTF-8, as <c>torch.load</c> does), byte[], a tuple → object?[], a list → <see cref="List{T}"/>,
/// a dict → <see cref="Dictionary{TKey, TValue}"/> in insertion order. <c>BUILD</c> on a dict (an OrderedDict's
/// attributes, such as a state dict's <c>_metadata</c>) is dropped. TorchSharp.PyBridge's Razorvine unpickler is not
/// used because its constructors are registered process-wide, where PyBridge's own handlers for the zip format live.
/// </remarks>
internal sealed class PickleReader(Stream stream, Func<PickleGlobal, object?[], object?> call, Func<object?, object?> persistentLoad)
{
    readonly List<object?> stack = [];
    readonly Stack<int> marks = new();
    readonly Dictionary<long, object?> memo = [];

    /// <summary>Reads one pickle, up to and including its <c>STOP</c>, and returns the value it builds.</summary>
    /// <exception cref="InvalidDataException">An unknown or misplaced opcode.</exception>
    /// <exception cref="EndOfStreamException">The stream ends inside the pickle.</exception>
    public object? Load()
    {
        stack.Clear();
        marks.Clear();
        memo.Clear();
        while (true)
        {
            var opcode = ReadByte();
            switch (opcode)
            {
                case Proto: ReadByte(); break;
                case Frame: ReadBytes(8); break; // a length hint only
                case Stop: return Pop();
                case Mark: marks.Push(stack.Count); break;
                case PickleOpcodes.Pop: Pop(); break;
                case PickleOpcodes.PopMark: PopMark(); break;
                case Dup: Push(Peek()); break;
                case None: Push(null); break;
                case NewTrue: Push(true); break;
                case NewFalse: Push(false); break;
                case BinInt: Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;
                case BinInt1: Push((long)ReadByte()); break;
                case BinInt2: Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break;
                case Long1: Push(Integer(ReadBytes(ReadByte()))); break;
                case Long4: Push(Integer(ReadBytes(Length(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)))))); break;
                case Int: Push(TextInteger(ReadLine())); break;
                case Long: Push(Integer(BigInteger.Parse(ReadLine().TrimEnd('L'), CultureInfo.InvariantCulture))); break;
                case BinFloat: Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break;
                case Float: Push(double.Parse(ReadLine(), CultureInfo.InvariantCulture)); break;
                case BinUnicode: Push(Encoding.UTF8.GetString(ReadBytes(Length(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))))); break;
                case ShortBinUnicode: Push(Encoding.UTF8.GetString(ReadBytes(ReadByte()))); break;
                case BinUnicode8: Push(Encoding.UTF8.GetString(ReadBytes(Length(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8)))))); break;
                case ShortBinString: Push(Encoding.UTF8.GetString(ReadBytes(ReadByte()))); break;
                case BinString: Push(Encoding.UTF8.GetString(ReadBytes(Length(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))))); break;
                case ShortBinBytes: Push(ReadBytes(ReadByte())); break;
                case BinBytes: Push(ReadBytes(Length(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))))); break;
                case BinBytes8: Push(ReadBytes(Length(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8))))); break;
                case EmptyTuple: Push(Array.Empty<object?>()); break;
                case TupleFromMark: Push(PopMark().ToArray()); break;
                case Tuple1: Push(PopItems(1)); break;
                case Tuple2: Push(PopItems(2)); break;
                case Tuple3: Push(PopItems(3)); break;
                case EmptyList: Push(new List<object?>()); break;
                case PickleOpcodes.List: Push(PopMark()); break;
                case Append: { var item = Pop(); ListOn(Peek()).Add(item); break; }
                case Appends: { var items = PopMark(); ListOn(Peek()).AddRange(items); break; }
                case EmptyDict: Push(new Dictionary<object, object?>()); break;
                case Dict: { var dict = new Dictionary<object, object?>(); SetItems(dict, PopMark()); Push(dict); break; }
                case SetItem: { var value = Pop(); var key = Pop(); SetItems(DictOn(Peek()), [key, value]); break; }
                case PickleOpcodes.SetItems: { var items = PopMark(); SetItems(DictOn(Peek()), items); break; }
                case Global: Push(new PickleGlobal(ReadLine(), ReadLine())); break;
                case StackGlobal: { var name = Pop(); var module = Pop(); Push(new PickleGlobal(Text(module), Text(name))); break; }
                case Reduce: { var arguments = Tuple(Pop()); Push(call(Callable(Pop()), arguments)); break; }
                case NewObj: { var arguments = Tuple(Pop()); Push(call(Callable(Pop()), arguments)); break; }
                case PickleOpcodes.Build: Build(Pop(), Peek()); break;
                case BinPersId: Push(persistentLoad(Pop())); break;
                case PersId: Push(persistentLoad(ReadLine())); break;
                case BinPut: memo[ReadByte()] = Peek(); break;
                case LongBinPut: memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break;
                case Put: memo[long.Parse(ReadLine(), CultureInfo.InvariantCulture)] = Peek(); break;
                case Memoize: memo[memo.Count] = Peek(); break;
                case BinGet: Push(Memo(ReadByte())); break;
                case LongBinGet: Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break;
                case Get: Push(Memo(long.Parse(ReadLine(), CultureInfo.InvariantCulture))); break;
                default:
                    throw new InvalidDataException($"unsupported pickle opcode 0x{opcode:x2} at byte {stream.Position - 1}");
            }
        }
    }

    void Push(object? value) => stack.Add(value);

    object? Peek() => stack.Count > 0 ? stack[^1] : throw new InvalidDataException("pickle stack underflow");

    object? Pop()
    {
        var value = Peek();
        stack.RemoveAt(stack.Count - 1);
        return value;
    }

    object?[] PopItems(int count)
    {
        if (stack.Count < count) throw new InvalidDataException("pickle stack underflow");
        var items = stack.GetRange(stack.Count - count, count).ToArray();
        stack.RemoveRange(stack.Count - count, count);
        return items;
    }

    List<object?> PopMark()
    {
        if (marks.Count == 0) throw new InvalidDataException("pickle opcode needs a MARK, and there is none");
        var start = marks.Pop();
        var items = stack.GetRange(start, stack.Count - start);
        stack.RemoveRange(start, stack.Count - start);
        return items;
    }

    object? Memo(long index) =>
        memo.TryGetValue(index, out var value) ? value : throw new InvalidDataException($"pickle refers to memo entry {index}, which was never stored");

    static void SetItems(Dictionary<object, object?> dict, IReadOnlyList<object?> items)
    {
        if (items.Count % 2 != 0) throw new InvalidDataException("pickle SETITEMS has a key without a value");
        for (var i = 0; i < items.Count; i += 2)
            dict[items[i] ?? throw new InvalidDataException("pickle dict key None is not supported")] = items[i + 1];
    }

    static void Build(object? state, object? target)
    {
        // An OrderedDict's instance attributes (a state dict's _metadata): not part of the mapping, and unused here.
        if (target is Dictionary<object, object?>) return;
        throw new InvalidDataException($"pickle sets the state of a {Describe(target)}, which a state dict never holds");
    }

    static List<object?> ListOn(object? value) => value as List<object?> ?? throw new InvalidDataException($"pickle appends to a {Describe(value)}");

    static Dictionary<object, object?> DictOn(object? value) =>
        value as Dictionary<object, object?> ?? throw new InvalidDataException($"pickle sets an item on a {Describe(value)}");

    static object?[] Tuple(object? value) => value as object?[] ?? throw new InvalidDataException($"pickle call arguments are a {Describe(value)}, not a tuple");

    static PickleGlobal Callable(object? value) => value as PickleGlobal ?? throw new InvalidDataException($"pickle calls a {Describe(value)}");

    static string Text(object? value) => value as string ?? throw new InvalidDataException($"pickle global name is a {Describe(value)}");

    static string Describe(object? value) => value?.GetType().Name ?? "None";

    static object Integer(ReadOnlySpan<byte> littleEndianTwosComplement) => Integer(new BigInteger(littleEndianTwosComplement));

    static object Integer(BigInteger value) => value >= long.MinValue && value <= long.MaxValue ? (long)value : value;

    /// <summary>Protocol 0's <c>INT</c>, which also spells booleans as 00 and 01.</summary>
    static object TextInteger(string text) => text switch
    {
        "00" => false,
        "01" => true,
        _ => Integer(BigInteger.Parse(text, CultureInfo.InvariantCulture)),
    };

    static int Length(ulong length) => length <= int.MaxValue ? (int)length : throw new InvalidDataException($"pickle item of {length} bytes is too long");

    static int Length(long length) => length is >= 0 and <= int.MaxValue ? (int)length : throw new InvalidDataException($"pickle item length {length} is invalid");

    byte ReadByte()
    {
        var value = stream.ReadByte();
        return value >= 0 ? (byte)value : throw new EndOfStreamException("the file ends inside a pickle");
    }

    byte[] ReadBytes(int count)
    {
        var bytes = new byte[count];
        stream.ReadExactly(bytes);
        return bytes;
    }

    string ReadLine()
    {
        var bytes = new List<byte>();
        for (var value = ReadByte(); value != (byte)'\n'; value = ReadByte()) bytes.Add(value);
        return Encoding.UTF8.GetString(bytes.ToArray()).TrimEnd('\r');
    }
}
