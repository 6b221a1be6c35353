// Prints what the generator made of the two ImageNet-64 configurations in Models.cs. The full command-line trainer
// (train, sample, nll) is generated once issue 4 lands.
using ImprovedDdpm;
using Examples.ImageNet64;
using static TorchSharp.torch;

var respacing = args.Length > 0 ? args[0] : null;
Describe("ImageNet-64 unconditional L_hybrid", ImageNet64Uncond.CreateNetwork, () => ImageNet64Uncond.CreateDiffusion(respacing));
Describe("ImageNet-64 class-conditional", ImageNet64Cond.CreateNetwork, () => ImageNet64Cond.CreateDiffusion(respacing));

static void Describe(string name, Func<nn.Module> createNetwork, Func<GaussianDiffusion> createDiffusion)
{
    var diffusion = createDiffusion();
    using var network = createNetwork();
    var parameters = network.parameters().Sum(p => p.numel());
    Console.WriteLine($"{name}: {parameters:N0} parameters; {diffusion.LossType} loss, {diffusion.VarType} variance; " +
        $"{diffusion.OriginalNumTimesteps} steps, sampling with {diffusion.NumTimesteps}");
}
