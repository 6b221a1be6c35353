using System.Globalization;
using ImprovedDdpm.Generators.Diagnostics;
using ImprovedDdpm.Generators.Model;
using Microsoft.CodeAnalysis;

namespace ImprovedDdpm.Generators.Validation;

/// <summary>
/// One problem with a configuration: the rule, the argument it concerns (<c>"UNet.Heads"</c>; the attribute itself when
/// the argument was left unset) and the message arguments.
/// </summary>
internal sealed record Problem(DiagnosticDescriptor Descriptor, string Argument, params string[] MessageArgs);

/// <summary>
/// Checks a declared configuration against everything that would make the reference crash, or silently do something
/// other than what was written. A pure function from the attribute values to problems; it never touches Roslyn symbols.
/// </summary>
internal static class ModelValidator
{
    /// <param name="given">The arguments written explicitly (<c>"UNet.NumClasses"</c>), for rules about flags that only
    /// conflict when both are stated.</param>
    public static List<Problem> Validate(DiffusionSpec diffusion, UNetSpec unet, TrainingSpec training, SuperResSpec? superRes, ICollection<string> given)
    {
        var problems = new List<Problem>();
        ValidateDiffusion(diffusion, problems);
        ValidateUNet(unet, given, problems);
        ValidateTraining(training, problems);
        if (superRes is not null) ValidateSuperRes(superRes, unet, problems);
        return problems;
    }

    static void ValidateSuperRes(SuperResSpec superRes, UNetSpec unet, List<Problem> problems)
    {
        var small = superRes.SmallSize;
        if (small < 1)
        {
            problems.Add(new(DiagnosticDescriptors.ValueOutOfRange, "SuperRes.SmallSize", "SmallSize", Text(small), "a positive number of pixels"));
            return;
        }
        if (unet.ImageSize < 1) return;
        var reason =
            small >= unet.ImageSize ? $"a super-resolution model makes larger images from smaller ones; use a divisor of {Text(unet.ImageSize)} below it, such as {Text(LargestDivisorBelow(unet.ImageSize))}"
            : unet.ImageSize % small != 0 ? $"it must divide the image size, so that the low-resolution image is the mean of whole {Text(unet.ImageSize / small)}x{Text(unet.ImageSize / small)} blocks; the nearest divisor is {Text(NearestDivisor(unet.ImageSize, small))}"
            : null;
        if (reason is not null) problems.Add(new(DiagnosticDescriptors.SmallSizeDoesNotFit, "SuperRes.SmallSize", Text(small), Text(unet.ImageSize), reason));
    }

    static int LargestDivisorBelow(int size) => Enumerable.Range(1, size - 1).Where(d => size % d == 0).DefaultIfEmpty(1).Max();

    static int NearestDivisor(int size, int near) =>
        Enumerable.Range(1, size - 1).Where(d => size % d == 0).OrderBy(d => Math.Abs(d - near)).ThenBy(d => d).First();

    static void ValidateDiffusion(DiffusionSpec diffusion, List<Problem> problems)
    {
        if (diffusion.Steps < 2)
        {
            problems.Add(new(DiagnosticDescriptors.InvalidSteps, "Diffusion.Steps", Text(diffusion.Steps),
                "a diffusion process (the posterior at t = 0 reads t = 1)", "2"));
        }
        else if (diffusion.Schedule == NoiseSchedule.Linear && diffusion.Steps <= 20)
        {
            problems.Add(new(DiagnosticDescriptors.InvalidSteps, "Diffusion.Steps", Text(diffusion.Steps),
                "the linear schedule (its last beta, 0.02 * 1000 / Steps, must stay below 1)", "21"));
        }
        else if (TimestepRespacing.TrySpaceTimesteps(diffusion.Steps, diffusion.TimestepRespacing, out _) is { } error)
        {
            problems.Add(new(DiagnosticDescriptors.InvalidRespacing, "Diffusion.TimestepRespacing", error));
        }
        if (diffusion.LearnSigma && diffusion.SigmaSmall)
        {
            problems.Add(new(DiagnosticDescriptors.ConflictingFlags, "Diffusion.SigmaSmall", "SigmaSmall = true", "LearnSigma = true",
                "a learned variance replaces the fixed small one; remove SigmaSmall or LearnSigma"));
        }
    }

    static void ValidateUNet(UNetSpec unet, ICollection<string> given, List<Problem> problems)
    {
        var structureValid = true;
        void OutOfRange(string argument, string value, string expected)
        {
            problems.Add(new(DiagnosticDescriptors.ValueOutOfRange, argument, argument.Substring(argument.IndexOf('.') + 1), value, expected));
            structureValid = false;
        }

        if (unet.ImageSize < 1) OutOfRange("UNet.ImageSize", Text(unet.ImageSize), "a positive number of pixels");
        if (unet.Channels < 1)
        {
            OutOfRange("UNet.Channels", Text(unet.Channels), "a positive multiple of 32");
        }
        else if (unet.Channels % 32 != 0)
        {
            problems.Add(new(DiagnosticDescriptors.ChannelsNotGroupable, "UNet.Channels", Text(unet.Channels)));
            structureValid = false;
        }
        if (unet.ResBlocks < 0) OutOfRange("UNet.ResBlocks", Text(unet.ResBlocks), "0 or more res blocks per level");
        if (unet.Heads < 1) OutOfRange("UNet.Heads", Text(unet.Heads), "a positive number of attention heads");
        if (unet.HeadsUpsample is < 1 and not -1)
            OutOfRange("UNet.HeadsUpsample", Text(unet.HeadsUpsample), "-1 (the same as Heads) or a positive number of heads");
        if (!(unet.Dropout >= 0 && unet.Dropout < 1))
            problems.Add(new(DiagnosticDescriptors.DropoutOutOfRange, "UNet.Dropout", Text(unet.Dropout)));
        if (unet.ClassCond && unet.NumClasses < 1)
            problems.Add(new(DiagnosticDescriptors.ClassCountRequired, "UNet.NumClasses", Text(unet.NumClasses)));
        if (!unet.ClassCond && given.Contains("UNet.NumClasses"))
        {
            problems.Add(new(DiagnosticDescriptors.ConflictingFlags, "UNet.NumClasses", $"NumClasses = {Text(unet.NumClasses)}", "ClassCond = false",
                "a class count only applies to a class-conditional model; set ClassCond = true or remove NumClasses"));
        }

        int[]? mult = null;
        if (unet.ChannelMult.Trim().Length > 0)
        {
            mult = UNetShape.TryParseList(unet.ChannelMult);
            if (mult is null) problems.Add(new(DiagnosticDescriptors.InvalidList, "UNet.ChannelMult", "ChannelMult", unet.ChannelMult, "1,2,2,2"));
        }
        else if (unet.ImageSize >= 1)
        {
            mult = UNetShape.DefaultChannelMult(unet.ImageSize);
            if (mult is null) problems.Add(new(DiagnosticDescriptors.ChannelMultRequired, "UNet.ImageSize", Text(unet.ImageSize), SuggestChannelMult(unet.ImageSize)));
        }
        var attention = UNetShape.TryParseList(unet.AttentionResolutions);
        if (attention is null)
            problems.Add(new(DiagnosticDescriptors.InvalidList, "UNet.AttentionResolutions", "AttentionResolutions", unet.AttentionResolutions, "16,8"));
        if (mult is null || attention is null || unet.ImageSize < 1) return;

        var halvings = mult.Length - 1;
        if (unet.ImageSize % (1 << halvings) != 0)
        {
            problems.Add(new(DiagnosticDescriptors.ImageSizeNotHalvable, "UNet.ImageSize", Text(unet.ImageSize), Text(halvings), Text(mult.Length), Text(1 << halvings)));
            return;
        }
        var resolutions = mult.Select((_, level) => unet.ImageSize >> level).ToArray();
        foreach (var resolution in attention.Where(r => !resolutions.Contains(r)).Distinct())
        {
            problems.Add(new(DiagnosticDescriptors.AttentionResolutionNotReached, "UNet.AttentionResolutions", Text(resolution), JoinAnd(resolutions)));
            structureValid = false;
        }
        if (!structureValid) return;

        var plan = UNetShape.Plan(unet, learnSigma: false);
        var attentionLayers = plan.InputBlocks.Concat([plan.MiddleBlock])
            .Select(block => (block, heads: "UNet.Heads"))
            .Concat(plan.OutputBlocks.Select(block => (block, heads: unet.HeadsUpsample == -1 ? "UNet.Heads" : "UNet.HeadsUpsample")))
            .SelectMany(entry => entry.block.Layers.Where(l => l.Kind == LayerKind.Attention).Select(layer => (entry.block.Resolution, layer, entry.heads)));
        foreach (var (resolution, layer, argument) in attentionLayers)
        {
            if (layer.InChannels % layer.Heads == 0 || problems.Any(p => p.Argument == argument)) continue;
            var name = argument.Substring("UNet.".Length);
            var divisor = Enumerable.Range(1, layer.Heads).Last(d => layer.InChannels % d == 0);
            problems.Add(new(DiagnosticDescriptors.HeadsDoNotDivideChannels, argument, name, Text(layer.Heads), Text(layer.InChannels), Text(resolution), Text(divisor)));
        }
    }

    static void ValidateTraining(TrainingSpec training, List<Problem> problems)
    {
        void OutOfRange(string name, string value, string expected) =>
            problems.Add(new(DiagnosticDescriptors.ValueOutOfRange, "Training." + name, name, value, expected));

        // The rules are TrainingRules', shared with the run time's TrainingOptions.Validate.
        if (TrainingRules.Lr(training.Lr) is { } lr) OutOfRange("Lr", Text(training.Lr), lr);
        if (TrainingRules.BatchSize(training.BatchSize) is { } batch) OutOfRange("BatchSize", Text(training.BatchSize), batch);
        if (TrainingRules.Microbatch(training.Microbatch) is { } micro) OutOfRange("Microbatch", Text(training.Microbatch), micro);
        if (TrainingRules.WeightDecay(training.WeightDecay) is { } decay) OutOfRange("WeightDecay", Text(training.WeightDecay), decay);
        if (TrainingRules.LrAnnealSteps(training.LrAnnealSteps) is { } anneal) OutOfRange("LrAnnealSteps", Text(training.LrAnnealSteps), anneal);
        if (TrainingRules.Interval(training.LogInterval) is { } log) OutOfRange("LogInterval", Text(training.LogInterval), log);
        if (TrainingRules.Interval(training.SaveInterval) is { } save) OutOfRange("SaveInterval", Text(training.SaveInterval), save);
        if (TrainingRules.ParseEmaRates(training.EmaRate, out _) is { } ema)
            problems.Add(new(DiagnosticDescriptors.InvalidEmaRate, "Training.EmaRate", training.EmaRate, ema));
    }

    /// <summary>Multipliers for a size without a default: up to four levels, halving while the size stays even and ≥ 8.</summary>
    static string SuggestChannelMult(int imageSize)
    {
        var levels = 1;
        for (var size = imageSize; size % 2 == 0 && size / 2 >= 4 && levels < 4; size /= 2) levels++;
        return string.Join(",", new[] { "1", "2", "2", "2" }.Take(levels));
    }

    static string JoinAnd(int[] values) => values.Length == 1
        ? Text(values[0])
        : string.Join(", ", values.Take(values.Length - 1).Select(Text)) + " and " + Text(values[values.Length - 1]);

    static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
