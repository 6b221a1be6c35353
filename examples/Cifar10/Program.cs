// CIFAR-10 from the reference README (L_hybrid):
//   --image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3
//   --diffusion_steps 4000 --noise_schedule cosine
// Until the source generator lands (issue 3) this example builds the diffusion process by hand from the runtime.
using ImprovedDdpm;

var diffusion = new GaussianDiffusion(BetaSchedules.Cosine(4000), ModelMeanType.Epsilon, ModelVarType.LearnedRange,
    LossType.RescaledMse, rescaleTimesteps: true, respacing: args.Length > 0 ? args[0] : null);
Console.WriteLine($"CIFAR-10 L_hybrid: cosine schedule, {diffusion.OriginalNumTimesteps} steps, sampling with {diffusion.NumTimesteps}");
Console.WriteLine($"alpha_bar at t = 0, T/2, T-1: {diffusion.Tables.AlphasCumprod[0]:G6}, {diffusion.Tables.AlphasCumprod[diffusion.NumTimesteps / 2]:G6}, {diffusion.Tables.AlphasCumprod[^1]:G6}");
