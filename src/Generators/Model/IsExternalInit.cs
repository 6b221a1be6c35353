// Records and init accessors on netstandard2.0: the compiler needs this type to exist.
namespace System.Runtime.CompilerServices;

internal static class IsExternalInit;
