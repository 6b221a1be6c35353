using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.IO.Hashing;

namespace ImprovedDdpm;

/// <summary>
/// Checks every entry of a zip checkpoint against the CRC-32 its central directory records. PyTorch stores tensor data
/// uncompressed, and neither .NET's <see cref="ZipArchive"/> (measured with .NET 10: a stored entry with a flipped
/// byte reads to the end without complaint) nor TorchSharp.PyBridge checks it, so without this a damaged checkpoint
/// would load as slightly wrong weights.
/// </summary>
static class ZipIntegrity
{
    /// <summary>Reads every entry of the zip in <paramref name="stream"/> and compares its CRC-32; rewinds the stream afterwards.</summary>
    /// <param name="path">The file, for messages.</param>
    /// <exception cref="InvalidDataException">The zip cannot be read, or an entry's data does not match its CRC-32;
    /// the message names <paramref name="path"/> and the entry.</exception>
    public static void Verify(Stream stream, string path)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var start = stream.Position;
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            ZipArchive archive;
            try
            {
                archive = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{path} is not a whole zip file (truncated or damaged?): {e.Message}", e);
            }
            using (archive)
            {
                foreach (var entry in archive.Entries)
                {
                    if (entry.FullName.EndsWith('/')) continue; // a folder entry holds no data
                    var crc = new Crc32();
                    try
                    {
                        using var data = entry.Open();
                        int read;
                        while ((read = data.Read(buffer, 0, buffer.Length)) > 0) crc.Append(buffer.AsSpan(0, read));
                    }
                    catch (InvalidDataException e)
                    {
                        throw new InvalidDataException($"{path}: entry '{entry.FullName}' cannot be read (truncated or damaged?): {e.Message}", e);
                    }
                    var actual = crc.GetCurrentHashAsUInt32();
                    if (actual != entry.Crc32)
                    {
                        throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                            $"{path} is damaged: the data of entry '{entry.FullName}' has CRC-32 {actual:x8}, the zip records {entry.Crc32:x8}"));
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        stream.Position = start;
    }
}
