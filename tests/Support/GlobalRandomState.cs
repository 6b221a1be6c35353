namespace ImprovedDdpm.Tests.Support;

/// <summary>
/// Tests that seed TorchSharp's process-wide generator and compare what it produced (a fresh run's initial weights):
/// they run after the parallel tests, alone, since any test creating a network meanwhile would draw from the same
/// generator.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRandomState
{
    public const string Name = "Global random state";
}
