using ImprovedDdpm;

namespace Examples.Cifar10;

// Unconditional CIFAR-10 with L_hybrid and the cosine schedule (reference README; cifar10_uncond_50M_500K.pt):
//   MODEL_FLAGS="--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3"
//   DIFFUSION_FLAGS="--diffusion_steps 4000 --noise_schedule cosine"
//   TRAIN_FLAGS="--lr 1e-4 --batch_size 128"
[Diffusion(Steps = 4000, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 32, Channels = 128, ResBlocks = 3, Dropout = 0.3)]
[Training(Lr = 1e-4, BatchSize = 128)]
public partial class Cifar10Hybrid;

// Unconditional CIFAR-10 with L_vlb and the cosine schedule (reference README; cifar10_uncond_vlb_50M_500K.pt):
//   MODEL_FLAGS="--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True --dropout 0.3"
//   DIFFUSION_FLAGS="--diffusion_steps 4000 --noise_schedule cosine --use_kl True"
//   TRAIN_FLAGS="--lr 1e-4 --batch_size 128 --schedule_sampler loss-second-moment"
[Diffusion(Steps = 4000, Schedule = NoiseSchedule.Cosine, LearnSigma = true, UseKl = true)]
[UNet(ImageSize = 32, Channels = 128, ResBlocks = 3, Dropout = 0.3)]
[Training(Lr = 1e-4, BatchSize = 128, ScheduleSampler = ScheduleSampler.LossSecondMoment)]
public partial class Cifar10Vlb;
