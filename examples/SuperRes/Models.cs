using ImprovedDdpm;

namespace Examples.SuperRes;

// The second stage of a cascade that runs on a CPU: 32x32 shapes from the Quickstart's 16x16 ones (Shapes16). The
// Quickstart's recipe (cosine schedule, learned variances, 3 classes) with the low-resolution image as 3 more input
// channels; the labels of the base samples condition it too.
[Diffusion(Steps = 1000, Schedule = NoiseSchedule.Cosine, LearnSigma = true, TimestepRespacing = "ddim50")]
[UNet(ImageSize = 32, Channels = 32, ResBlocks = 1, ChannelMult = "1,2,2", AttentionResolutions = "8", Heads = 2,
    ClassCond = true, NumClasses = 3)]
[SuperRes(SmallSize = 16)]
[Training(Lr = 1e-3, BatchSize = 16, EmaRate = "0.995", LogInterval = 50, SaveInterval = 300)]
public partial class Shapes32From16;

// The reference's super-resolution defaults, sr_model_and_diffusion_defaults() (super_res_train.py /
// super_res_sample.py): 256x256 from 64x64, 128 channels, 2 res blocks, attention at 16 and 8, 1000 linear steps.
// 124,056,707 parameters; its state_dict is the reference SuperResModel's, key for key.
//   MODEL_FLAGS="--large_size 256 --small_size 64 --num_channels 128 --num_res_blocks 2"
[Diffusion]
[UNet(ImageSize = 256, Channels = 128, ResBlocks = 2)]
[SuperRes(SmallSize = 64)]
public partial class SuperRes64To256;
