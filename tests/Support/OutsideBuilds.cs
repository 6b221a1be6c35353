namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// Tests that restore and build projects outside the repository (a few minutes of compiling each): one at a time, so
/// two of them do not compete for the CPU with each other as well as with the rest of the suite.
/// </summary>
[CollectionDefinition(Name)]
public sealed class OutsideBuilds
{
    public const string Name = "Builds outside the repository";
}
