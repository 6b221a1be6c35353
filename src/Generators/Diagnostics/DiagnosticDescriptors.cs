using Microsoft.CodeAnalysis;

namespace ImprovedDdpm.Generators.Diagnostics;

/// <summary>
/// Every diagnostic the generator reports. All are errors: a configuration that would crash training or silently
/// differ from the reference must not build. Each is listed in AnalyzerReleases.Unshipped.md.
/// </summary>
internal static class DiagnosticDescriptors
{
    const string Category = "ImprovedDdpm.Configuration";
    const string HelpLink = "https://github.com/openai/improved-diffusion/blob/main/improved_diffusion/script_util.py";

    public static readonly DiagnosticDescriptor InvalidSteps = Error(
        "IDDPM001", "Too few diffusion steps",
        "Steps = {0} is too few for {1}; use {2} or more (the paper uses 1000 or 4000)",
        "A diffusion process needs at least two steps (the posterior at t = 0 reads the variance of t = 1); the linear schedule, rescaled by 1000/T, needs more than 20 so that its last beta stays below 1.");

    public static readonly DiagnosticDescriptor ChannelMultRequired = Error(
        "IDDPM002", "Channel multipliers are needed for this image size",
        "ImageSize = {0} has no default channel multipliers (the reference defines them for 32, 64 and 256); set ChannelMult, for example \"{1}\"",
        "The reference's create_model knows the channel multipliers only for 32, 64 and 256 pixels.");

    public static readonly DiagnosticDescriptor InvalidList = Error(
        "IDDPM003", "Not a list of positive integers",
        "{0} = \"{1}\" is not a comma-separated list of positive integers; write it like \"{2}\"",
        "List-valued arguments are comma-separated positive integers.");

    public static readonly DiagnosticDescriptor AttentionResolutionNotReached = Error(
        "IDDPM004", "Attention resolution never reached",
        "Attention resolution {0} is never reached; this network visits {1}",
        "Attention runs at the listed resolutions in pixels; each must be one the network passes through.");

    public static readonly DiagnosticDescriptor HeadsDoNotDivideChannels = Error(
        "IDDPM005", "Attention heads must divide the channels",
        "{0} = {1} does not divide the {2} channels of the attention at resolution {3}; use a divisor of {2}, such as {4}",
        "Multi-head attention splits the channels evenly across heads.");

    public static readonly DiagnosticDescriptor DropoutOutOfRange = Error(
        "IDDPM006", "Dropout must be in [0, 1)",
        "Dropout = {0} is outside [0, 1); use a probability such as 0.1 or 0.3",
        "Dropout is the probability of zeroing an activation.");

    public static readonly DiagnosticDescriptor ClassCountRequired = Error(
        "IDDPM007", "A class-conditional model needs a class count",
        "ClassCond = true needs NumClasses of at least 1; got {0}",
        "The class embedding has one row per class.");

    public static readonly DiagnosticDescriptor InvalidRespacing = Error(
        "IDDPM008", "Timestep respacing cannot be made from the diffusion steps",
        "TimestepRespacing: {0}",
        "Respacing is checked at compile time with the same code that applies it at run time.");

    public static readonly DiagnosticDescriptor ClassNotPartial = Error(
        "IDDPM009", "The model class must be partial",
        "'{0}' must be declared partial so the generator can add its network, schedule and diffusion",
        "The generated members are added to the attributed class as another part of it.");

    public static readonly DiagnosticDescriptor ClassIsGeneric = Error(
        "IDDPM010", "The model class cannot be generic",
        "'{0}' is generic; declare the model as a non-generic class",
        "A model is one fixed configuration; type parameters have no meaning for it.");

    public static readonly DiagnosticDescriptor ClassIsNested = Error(
        "IDDPM011", "The model class cannot be nested",
        "'{0}' is nested inside '{1}'; declare the model at namespace level",
        "Generated models are top-level classes.");

    public static readonly DiagnosticDescriptor UNetMissing = Error(
        "IDDPM012", "A diffusion model needs a network",
        "'{0}' has [Diffusion] but no [UNet]; add [UNet(ImageSize = ..., Channels = ..., ResBlocks = ...)]",
        "[Diffusion] describes the process and [UNet] the network that learns to reverse it; both are required.");

    public static readonly DiagnosticDescriptor DiffusionMissing = Error(
        "IDDPM013", "[UNet], [Training] and [SuperRes] need [Diffusion]",
        "'{0}' has [{1}] but no [Diffusion]; add [Diffusion(Steps = ..., Schedule = ...)]",
        "Only a class with [Diffusion] is a model; the other attributes configure it.");

    public static readonly DiagnosticDescriptor ConflictingFlags = Error(
        "IDDPM014", "Conflicting flags",
        "{0} conflicts with {1}: {2}",
        "Two arguments ask for incompatible things; the reference would silently ignore one of them.");

    public static readonly DiagnosticDescriptor ValueOutOfRange = Error(
        "IDDPM015", "Value out of range",
        "{0} = {1} is not valid; it must be {2}",
        "A numeric argument is outside the range the reference accepts.");

    public static readonly DiagnosticDescriptor ChannelsNotGroupable = Error(
        "IDDPM016", "Channels must be a multiple of 32",
        "Channels = {0} is not a multiple of 32; every normalisation is a GroupNorm over 32 groups, so use 32, 64, 128, 192, …",
        "GroupNorm32 splits the channels into 32 equal groups.");

    public static readonly DiagnosticDescriptor ImageSizeNotHalvable = Error(
        "IDDPM017", "Image size cannot be halved at every level",
        "ImageSize = {0} cannot be halved {1} times for {2} levels; use a multiple of {3}",
        "Each level but the last halves the resolution, and the upsampling path must meet the skip connections exactly.");

    public static readonly DiagnosticDescriptor InvalidEmaRate = Error(
        "IDDPM018", "Invalid EMA rate list",
        "EmaRate = \"{0}\" is not valid; it must be {1}",
        "One exponential moving average of the weights is kept per rate.");

    public static readonly DiagnosticDescriptor AmbiguousEntryPoint = Error(
        "IDDPM019", "Several models and no Main",
        "This executable declares several models ({0}) and no Main; write a Main that calls one model's Run(args)",
        "The generated entry point runs the command-line tool of the executable's only model.");

    public static readonly DiagnosticDescriptor SmallSizeDoesNotFit = Error(
        "IDDPM020", "Super-resolution size does not fit the image size",
        "SmallSize = {0} does not fit ImageSize = {1}: {2}",
        "A super-resolution model conditions an ImageSize image on a SmallSize one: smaller, and a divisor, so that training's area downsampling averages whole blocks.");

    static DiagnosticDescriptor Error(string id, string title, string message, string description) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, description,
            HelpLink, WellKnownDiagnosticTags.NotConfigurable);
}
