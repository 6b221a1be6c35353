// The command-line tools of the two super-resolution models in Models.cs, and a drawer for the small one's data.
//   dotnet run -- draw superres/data          32x32 shapes to train Shapes32From16 on
//   dotnet run -- shapes <command> …          Shapes32From16's tool (train, sample --base-samples, nll, …)
//   dotnet run -- sr256 <command> …           SuperRes64To256's tool
using Examples.Quickstart;
using Examples.SuperRes;

return args.FirstOrDefault() switch
{
    "draw" when args.Length == 2 => Draw(args[1]),
    "shapes" => Shapes32From16.Run(args[1..]),
    "sr256" => SuperRes64To256.Run(args[1..]),
    _ => Usage(),
};

static int Draw(string folder)
{
    // The Quickstart's scenes at twice its size (3000 images, the same seed).
    ShapesDataset.Write(folder, count: 3000, seed: 1, size: Shapes32From16.Definition.ImageSize);
    Console.WriteLine($"drew 3000 {Shapes32From16.Definition.ImageSize}x{Shapes32From16.Definition.ImageSize} shapes into {folder}");
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: SuperRes draw <folder> | SuperRes <shapes|sr256> <command> [options]   (--help lists the commands)");
    return 2;
}
