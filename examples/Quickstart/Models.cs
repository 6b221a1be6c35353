using ImprovedDdpm;

namespace Examples.Quickstart;

// A small class-conditional model for 16x16 images of three shapes: the paper's recipe (cosine schedule, learned
// variances with the hybrid loss), shrunk so that a few minutes on two CPU cores produce recognisable samples.
[Diffusion(Steps = 1000, Schedule = NoiseSchedule.Cosine, LearnSigma = true, TimestepRespacing = "ddim50")]
[UNet(ImageSize = 16, Channels = 32, ResBlocks = 1, ChannelMult = "1,2,2", AttentionResolutions = "4", Heads = 2,
    ClassCond = true, NumClasses = 3)]
[Training(Lr = 1e-3, BatchSize = 16, EmaRate = "0.995", LogInterval = 50, SaveInterval = 300)]
public partial class Shapes16;
