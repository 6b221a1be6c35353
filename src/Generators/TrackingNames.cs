namespace ImprovedDdpm.Generators;

/// <summary>Names of the pipeline's steps, so tests can prove through the driver's tracking that they stay cached.</summary>
internal static class TrackingNames
{
    public const string Models = nameof(Models);
    public const string Specs = nameof(Specs);
    public const string OrphanUNets = nameof(OrphanUNets);
    public const string OrphanTrainings = nameof(OrphanTrainings);
    public const string OrphanSuperRes = nameof(OrphanSuperRes);
    public const string EntryPoint = nameof(EntryPoint);
}
