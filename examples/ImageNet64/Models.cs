using ImprovedDdpm;

namespace Examples.ImageNet64;

// Unconditional ImageNet-64 with L_hybrid and the cosine schedule (reference README; imagenet64_uncond_100M_1500K.pt):
//   MODEL_FLAGS="--image_size 64 --num_channels 128 --num_res_blocks 3 --learn_sigma True"
//   DIFFUSION_FLAGS="--diffusion_steps 4000 --noise_schedule cosine"
//   TRAIN_FLAGS="--lr 1e-4 --batch_size 128"
[Diffusion(Steps = 4000, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 64, Channels = 128, ResBlocks = 3)]
[Training(Lr = 1e-4, BatchSize = 128)]
public partial class ImageNet64Uncond;

// Class-conditional ImageNet-64, 270M parameters (reference README; imagenet64_cond_270M_250K.pt). It was trained with
// rescale_learned_sigmas and rescale_timesteps off: with either on, its checkpoint loads but samples wrongly.
//   MODEL_FLAGS="--image_size 64 --num_channels 192 --num_res_blocks 3 --learn_sigma True --class_cond True"
//   DIFFUSION_FLAGS="--diffusion_steps 4000 --noise_schedule cosine --rescale_learned_sigmas False --rescale_timesteps False"
//   TRAIN_FLAGS="--lr 3e-4 --batch_size 2048"
[Diffusion(Steps = 4000, Schedule = NoiseSchedule.Cosine, LearnSigma = true, RescaleLearnedSigmas = false, RescaleTimesteps = false)]
[UNet(ImageSize = 64, Channels = 192, ResBlocks = 3, ClassCond = true)]
[Training(Lr = 3e-4, BatchSize = 2048)]
public partial class ImageNet64Cond;
