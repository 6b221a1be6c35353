// The command-line tools of the two ImageNet-64 models in Models.cs. The first argument picks the model, the rest go to
// its generated tool:  dotnet run -- uncond info   |   dotnet run -- cond sample --help
using Examples.ImageNet64;

return args.FirstOrDefault() switch
{
    "uncond" => ImageNet64Uncond.Run(args[1..]),
    "cond" => ImageNet64Cond.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: ImageNet64 <uncond|cond> <command> [options]   (commands: info; --help lists them)");
    return 2;
}
