namespace ImprovedDdpm;

/// <summary>Bytes to the network's floats: v / 127.5 − 1 in float32, as the reference computes it in NumPy.</summary>
static class PixelConversion
{
    public static float ToUnit(byte value) => value / 127.5f - 1f;

    /// <summary>Interleaved RGB (HWC) to planar (CHW) floats.</summary>
    public static void HwcToChw(ReadOnlySpan<byte> hwc, int plane, Span<float> chw)
    {
        if (hwc.Length != 3 * plane || chw.Length != 3 * plane)
            throw new ArgumentException($"expected {3 * plane} values; got {hwc.Length} bytes into {chw.Length} floats");
        for (var i = 0; i < plane; i++)
        {
            chw[i] = ToUnit(hwc[3 * i]);
            chw[plane + i] = ToUnit(hwc[3 * i + 1]);
            chw[2 * plane + i] = ToUnit(hwc[3 * i + 2]);
        }
    }

    /// <summary>Planar (CHW) bytes to planar floats.</summary>
    public static void ChwToChw(ReadOnlySpan<byte> chwBytes, Span<float> chw)
    {
        if (chwBytes.Length != chw.Length)
            throw new ArgumentException($"expected {chw.Length} values; got {chwBytes.Length} bytes");
        for (var i = 0; i < chw.Length; i++) chw[i] = ToUnit(chwBytes[i]);
    }
}
