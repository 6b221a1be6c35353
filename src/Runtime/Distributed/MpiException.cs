namespace ImprovedDdpm;

/// <summary>The MPI library could not be loaded or is not one this binding supports.</summary>
public sealed class MpiLibraryException(string message) : Exception(message);

/// <summary>An MPI call returned an error; the message names the call and MPI's description of the error.</summary>
public sealed class MpiException(string call, int errorCode, string description)
    : Exception($"{call} failed: {description}")
{
    /// <summary>The MPI function that failed, e.g. <c>MPI_Allreduce</c>.</summary>
    public string Call { get; } = call;

    /// <summary>The error code it returned.</summary>
    public int ErrorCode { get; } = errorCode;
}
