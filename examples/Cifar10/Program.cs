// Prints what the generator made of the two CIFAR-10 configurations in Models.cs. The full command-line trainer
// (train, sample, nll) is generated once issue 4 lands.
using ImprovedDdpm;
using Examples.Cifar10;
using static TorchSharp.torch;

var respacing = args.Length > 0 ? args[0] : null;
Describe("CIFAR-10 L_hybrid", Cifar10Hybrid.CreateNetwork, () => Cifar10Hybrid.CreateDiffusion(respacing));
Describe("CIFAR-10 L_vlb", Cifar10Vlb.CreateNetwork, () => Cifar10Vlb.CreateDiffusion(respacing));

static void Describe(string name, Func<nn.Module> createNetwork, Func<GaussianDiffusion> createDiffusion)
{
    var diffusion = createDiffusion();
    using var network = createNetwork();
    var parameters = network.parameters().Sum(p => p.numel());
    Console.WriteLine($"{name}: {parameters:N0} parameters; {diffusion.LossType} loss, {diffusion.VarType} variance; " +
        $"{diffusion.OriginalNumTimesteps} steps, sampling with {diffusion.NumTimesteps}");
}
