namespace ImprovedDdpm;

/// <summary>The element types the collectives carry (the same set with or without MPI, so code is checked in K = 1 runs too).</summary>
internal static class MpiDatatypes
{
    public static TypeCode EnsureSupported<T>() where T : unmanaged
    {
        var code = Type.GetTypeCode(typeof(T));
        return code is TypeCode.Byte or TypeCode.Int32 or TypeCode.Int64 or TypeCode.Single or TypeCode.Double ? code
            : throw new NotSupportedException($"Collectives carry byte, int, long, float and double; not {typeof(T).Name}.");
    }
}
