using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace ImprovedDdpm.Tests.Support;

/// <summary>Damages a zip file (a PyTorch checkpoint) the way a bad disk or a bad copy does: one bit of one entry's data.</summary>
static class ZipDamage
{
    /// <summary>
    /// Flips the lowest bit of the middle byte of the data of the first entry whose name ends with
    /// <paramref name="entrySuffix"/>, leaving the zip's structure (and the CRC-32 it records) as it was. Returns the
    /// entry's full name.
    /// </summary>
    public static string FlipByteInEntry(string path, string entrySuffix)
    {
        string name;
        long length;
        using (var archive = ZipFile.OpenRead(path))
        {
            var entry = archive.Entries.First(e => e.FullName.EndsWith(entrySuffix, StringComparison.Ordinal) && e.Length > 0);
            Assert.Equal(entry.Length, entry.CompressedLength); // stored, as PyTorch stores tensor data: the byte is the value's
            (name, length) = (entry.FullName, entry.Length);
        }
        var bytes = File.ReadAllBytes(path);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        for (var at = 0; at + 30 + nameBytes.Length <= bytes.Length; at++)
        {
            // A local file header: signature PK\3\4, then 26 bytes of fields, then the name and the extra field.
            if (bytes[at] != 'P' || bytes[at + 1] != 'K' || bytes[at + 2] != 3 || bytes[at + 3] != 4) continue;
            var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at + 26));
            var extraLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at + 28));
            if (!bytes.AsSpan(at + 30, nameLength).SequenceEqual(nameBytes)) continue;
            bytes[at + 30 + nameLength + extraLength + length / 2] ^= 1;
            File.WriteAllBytes(path, bytes);
            return name;
        }
        throw new InvalidOperationException($"no local header of {name} in {path}");
    }
}
