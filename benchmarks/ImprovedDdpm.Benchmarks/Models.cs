namespace ImprovedDdpm.Benchmarks;

/// <summary>The models the benchmarks run, by the name they print.</summary>
static class Models
{
    public static ModelDefinition Get(string name) => name switch
    {
        "Quickstart" => Examples.Quickstart.Shapes16.Definition,
        "Cifar10" => Examples.Cifar10.Cifar10Hybrid.Definition,
        _ => throw new ArgumentException($"no benchmark model {name}", nameof(name)),
    };
}
