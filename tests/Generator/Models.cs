namespace ImprovedDdpm.Tests.Generator;

// Models compiled by the generator running on this test project. The tiny ones mirror the fixture networks
// (tiny_unet_{fixed,sigma,cond}: 8x8 images, 32 channels, one res block per level, channel_mult (1, 2), attention at
// 4x4 with 2 heads); the others carry the flags of unet_structures.json's configurations.

[Diffusion(Steps = 10, Schedule = NoiseSchedule.Cosine)]
[UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2)]
public partial class TinyFixed;

[Diffusion(Steps = 10, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2)]
public partial class TinySigma;

[Diffusion(Steps = 10, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2, ClassCond = true, NumClasses = 10)]
public partial class TinyCond;

// unet_structures.json "cifar10" (and the schedule of the reference README's CIFAR-10 run).
[Diffusion(Steps = 4000, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 32, Channels = 128, ResBlocks = 3, Dropout = 0.3)]
public partial class Cifar10Structure;

// unet_structures.json "imagenet64_uncond".
[Diffusion(Steps = 4000, Schedule = NoiseSchedule.Linear, LearnSigma = true)]
[UNet(ImageSize = 64, Channels = 128, ResBlocks = 3)]
public partial class ImageNet64UncondStructure;

// unet_structures.json "imagenet64_cond".
[Diffusion(Steps = 1000, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 64, Channels = 192, ResBlocks = 3, ClassCond = true)]
public partial class ImageNet64CondStructure;

// unet_structures.json "cifar10_heads_up1_noscaleshift".
[Diffusion(Steps = 1000, LearnSigma = true)]
[UNet(ImageSize = 32, Channels = 128, ResBlocks = 3, HeadsUpsample = 1, ScaleShiftNorm = false)]
public partial class Cifar10NoScaleShiftStructure;

// TinySigma with dropout 0.5, for the train/eval switch.
[Diffusion(Steps = 10, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2, Dropout = 0.5)]
public partial class TinyDropout;

// TinyDropout with gradient checkpointing: the same weights must give the same loss and gradients.
[Diffusion(Steps = 10, Schedule = NoiseSchedule.Cosine, LearnSigma = true)]
[UNet(ImageSize = 8, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "4", Heads = 2, Dropout = 0.5, Checkpointing = true)]
public partial class TinyCheckpointed;

// super_res.safetensors' tiny SuperResModel: 16x16 from 8x8, 32 channels, one res block per level, channel_mult (1, 2),
// attention at 8x8 (attention_ds 2) with 4 heads, learned sigma, 100 linear steps.
[Diffusion(Steps = 100, LearnSigma = true)]
[UNet(ImageSize = 16, Channels = 32, ResBlocks = 1, ChannelMult = "1,2", AttentionResolutions = "8", Heads = 4)]
[SuperRes(SmallSize = 8)]
public partial class TinySuperRes;

// super_res_structures.json "sr_64_to_256" (sr_model_and_diffusion_defaults()).
[Diffusion]
[UNet(ImageSize = 256, Channels = 128, ResBlocks = 2)]
[SuperRes(SmallSize = 64)]
public partial class SuperRes64To256Structure;

// super_res_structures.json "sr_16_to_64".
[Diffusion]
[UNet(ImageSize = 64, Channels = 128, ResBlocks = 2)]
[SuperRes(SmallSize = 16)]
public partial class SuperRes16To64Structure;
