namespace ImprovedDdpm;

/// <summary>
/// Training or sample data that cannot be used as given: a missing folder, a folder without images, an image that does
/// not decode, an array of the wrong shape or dtype, labels that do not fit the model. The message always names the
/// file or folder (<see cref="Path"/>) and, where there is one, what was found against what was expected.
/// </summary>
public sealed class DataException : Exception
{
    public DataException(string path, string message, Exception? innerException = null)
        : base(message, innerException) => Path = path;

    /// <summary>The file or folder the problem is in.</summary>
    public string Path { get; }
}
