// The command-line tools of the two CIFAR-10 models in Models.cs. The first argument picks the model, the rest go to
// its generated tool:  dotnet run -- hybrid info   |   dotnet run -- vlb sample --help
using Examples.Cifar10;

return args.FirstOrDefault() switch
{
    "hybrid" => Cifar10Hybrid.Run(args[1..]),
    "vlb" => Cifar10Vlb.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Cifar10 <hybrid|vlb> <command> [options]   (commands: info; --help lists them)");
    return 2;
}
