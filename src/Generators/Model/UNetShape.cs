using System.Globalization;

namespace ImprovedDdpm.Generators.Model;

/// <summary>The list-valued <c>[UNet]</c> arguments read as numbers, with the reference's defaults.</summary>
internal static class UNetShape
{
    /// <summary>The reference's <c>create_model</c> channel multipliers by image size; null where it has none.</summary>
    public static int[]? DefaultChannelMult(int imageSize) => imageSize switch
    {
        256 => [1, 1, 2, 2, 4, 4],
        64 => [1, 2, 3, 4],
        32 => [1, 2, 2, 2],
        _ => null,
    };

    /// <summary>The channel multipliers per level: the given list, else the default for the image size.</summary>
    public static int[]? ChannelMult(UNetSpec unet) =>
        unet.ChannelMult.Trim().Length == 0 ? DefaultChannelMult(unet.ImageSize) : TryParseList(unet.ChannelMult);

    /// <summary>A comma-separated list of positive integers, or null if it is not one. Blank means empty.</summary>
    public static int[]? TryParseList(string text)
    {
        if (text.Trim().Length == 0) return [];
        var parts = text.Split(',');
        var values = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out values[i]) || values[i] <= 0)
                return null;
        }
        return values;
    }

    /// <summary>
    /// Plans the reference's <c>UNetModel</c> for a configuration that has passed validation: the stem, then per level
    /// <c>ResBlocks</c> res blocks (each followed by attention where the resolution is listed) and a downsample between
    /// levels; the middle res–attention–res; then per level, deepest first, <c>ResBlocks + 1</c> res blocks that each take
    /// one skip connection, with an upsample closing every level but the first. A super-resolution model's stem also
    /// reads the upsampled low-resolution image: twice the image channels, as the reference's <c>SuperResModel</c>.
    /// </summary>
    public static NetworkPlan Plan(UNetSpec unet, bool learnSigma, SuperResSpec? superRes = null)
    {
        var mult = ChannelMult(unet)!;
        var attention = TryParseList(unet.AttentionResolutions)!;
        var headsUp = unet.HeadsUpsample == -1 ? unet.Heads : unet.HeadsUpsample;
        var model = unet.Channels;

        var stemChannels = superRes is null ? ImageChannels : 2 * ImageChannels;
        var inputs = new List<BlockPlan> { Block(unet.ImageSize, new LayerPlan(LayerKind.InputConv, stemChannels, model)) };
        var skipChannels = new Stack<int>();
        skipChannels.Push(model);
        var ch = model;
        var resolution = unet.ImageSize;
        for (var level = 0; level < mult.Length; level++)
        {
            for (var block = 0; block < unet.ResBlocks; block++)
            {
                var layers = new List<LayerPlan> { new(LayerKind.ResBlock, ch, mult[level] * model) };
                ch = mult[level] * model;
                if (attention.Contains(resolution)) layers.Add(new(LayerKind.Attention, ch, ch, unet.Heads));
                inputs.Add(Block(resolution, [.. layers]));
                skipChannels.Push(ch);
            }
            if (level != mult.Length - 1)
            {
                resolution /= 2;
                inputs.Add(Block(resolution, new LayerPlan(LayerKind.Downsample, ch, ch)));
                skipChannels.Push(ch);
            }
        }

        var middle = Block(resolution,
            new LayerPlan(LayerKind.ResBlock, ch, ch),
            new LayerPlan(LayerKind.Attention, ch, ch, unet.Heads),
            new LayerPlan(LayerKind.ResBlock, ch, ch));

        var outputs = new List<BlockPlan>();
        for (var level = mult.Length - 1; level >= 0; level--)
        {
            for (var block = 0; block <= unet.ResBlocks; block++)
            {
                var layers = new List<LayerPlan> { new(LayerKind.ResBlock, ch + skipChannels.Pop(), model * mult[level]) };
                ch = model * mult[level];
                if (attention.Contains(resolution)) layers.Add(new(LayerKind.Attention, ch, ch, headsUp));
                if (level != 0 && block == unet.ResBlocks) layers.Add(new(LayerKind.Upsample, ch, ch));
                outputs.Add(Block(resolution, [.. layers]));
                if (level != 0 && block == unet.ResBlocks) resolution *= 2;
            }
        }

        return new NetworkPlan(
            ImageSize: unet.ImageSize,
            InChannels: ImageChannels,
            ModelChannels: model,
            OutChannels: learnSigma ? 2 * ImageChannels : ImageChannels,
            ChannelMult: mult.ToEquatableArray(),
            AttentionResolutions: attention.ToEquatableArray(),
            NumClasses: unet.ClassCond ? unet.NumClasses : 0,
            Dropout: unet.Dropout,
            ScaleShiftNorm: unet.ScaleShiftNorm,
            Checkpointing: unet.Checkpointing,
            InputBlocks: inputs.ToEquatableArray(),
            MiddleBlock: middle,
            OutputBlocks: outputs.ToEquatableArray(),
            SmallSize: superRes?.SmallSize ?? 0);
    }

    /// <summary>RGB, as every model of the reference.</summary>
    const int ImageChannels = 3;

    static BlockPlan Block(int resolution, params LayerPlan[] layers) => new(resolution, new EquatableArray<LayerPlan>(layers));
}
