using SixLabors.ImageSharp;

namespace ImprovedDdpm;

/// <summary>
/// Why an image file cannot be used, in words a user can act on ("empty file", "not an image"), instead of ImageSharp's
/// "Image cannot be loaded. Available decoders: …". <see cref="Problem"/> reads only the header, so a whole folder is
/// checked when it is opened rather than when training reaches a bad file hours later.
/// </summary>
public static class ImageFileCheck
{
    // Signatures of the formats the folder reader takes (png, jpeg, gif): a file that starts like one but is not
    // identified is cut short, not foreign.
    static readonly byte[][] Signatures =
    [
        [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A],
        [0xFF, 0xD8, 0xFF],
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8'],
    ];

    /// <summary>
    /// What is wrong with the header of the image file at <paramref name="path"/>, or <see langword="null"/> when it
    /// names a size ImageSharp can decode. Reads the header only (no pixels), so a damaged pixel stream passes; the
    /// decode then fails with <see cref="DescribeDecodeFailure"/>'s message.
    /// </summary>
    public static string? Problem(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
            if (stream.Length == 0) return "empty file";
            var info = Image.Identify(ReferenceImageTransform.Configuration, stream, out _);
            if (info is null) return StartsLikeAnImage(path) ? "truncated header" : "not an image (unrecognised header)";
            if (info.Width <= 0 || info.Height <= 0) return $"unreadable header (size {info.Width}x{info.Height})";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot be read ({e.Message})";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A damaged header can make a decoder throw anything (InvalidImageContentException mostly).
            return $"truncated or unreadable header ({e.Message})";
        }
    }

    /// <summary>The reason a full decode of <paramref name="path"/> failed with <paramref name="error"/>, for a message naming the file.</summary>
    public static string DescribeDecodeFailure(string path, Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error switch
        {
            UnknownImageFormatException => Problem(path) ?? "not an image (unrecognised header)",
            InvalidImageContentException => $"its image data is damaged or truncated ({error.Message})",
            _ => error.Message,
        };
    }

    static bool StartsLikeAnImage(string path)
    {
        Span<byte> start = stackalloc byte[8];
        using var stream = File.OpenRead(path);
        start = start[..stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false)];
        foreach (var signature in Signatures)
        {
            var length = Math.Min(start.Length, signature.Length);
            if (start[..length].SequenceEqual(signature.AsSpan(0, length))) return true;
        }
        return false;
    }
}
