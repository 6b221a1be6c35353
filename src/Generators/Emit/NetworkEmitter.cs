using ImprovedDdpm.Generators.Model;

namespace ImprovedDdpm.Generators.Emit;

/// <summary>
/// <c>M.Network</c> and <c>M.CreateNetwork()</c>: the reference's <c>UNetModel</c> for one configuration, unrolled. The
/// constructor lists every block with its channel counts as literals; <c>forward</c> spells out the skip connections.
/// Fields carry the reference's names, so <c>state_dict()</c> has its keys and reference checkpoints load key for key.
/// </summary>
internal static class NetworkEmitter
{
    public static string Emit(ModelSpec spec)
    {
        var plan = spec.Network;
        // TorchSharp.Modules has a SiLU and an Upsample of its own; the aliases pick ours, so every block is named bare.
        var writer = SourceWriter.ForModel(spec, "System", "System.Linq", "ImprovedDdpm", "TorchSharp.Modules", "static TorchSharp.torch",
            "SiLU = global::ImprovedDdpm.SiLU", "Upsample = global::ImprovedDdpm.Upsample");
        writer.Line("/// <summary>A new network with the reference's initialisation (output layers start at zero).</summary>");
        writer.Line("public static Network CreateNetwork() => new();");
        writer.Line();
        writer.Line("/// <summary>");
        writer.Line($"/// The U-Net of {spec.ClassName}, {Literal.Count(plan.ParameterCount)} parameters: the reference's <c>UNetModel</c> with this");
        writer.Line("/// configuration's channel counts fixed. It embeds the timesteps it is given; the diffusion rescales them.");
        if (plan.SuperResolution)
            writer.Line("/// As the reference's <c>SuperResModel</c>, it also reads a low-resolution image, upsampled, as extra input channels.");
        writer.Line("/// </summary>");
        writer.Open($"public sealed class Network : {(plan.SuperResolution ? "SuperResNetworkModule" : "DiffusionNetworkModule")}");
        writer.Line("/// <summary>Height and width of the images, in pixels.</summary>");
        writer.Line($"public const int ImageSize = {Literal.Of(plan.ImageSize)};");
        writer.Line();
        writer.Line("/// <summary>Channels of the input images.</summary>");
        writer.Line($"public const int InChannels = {Literal.Of(plan.InChannels)};");
        writer.Line();
        if (plan.SuperResolution)
        {
            writer.Line("/// <summary>Height and width of the low-resolution images, in pixels.</summary>");
            writer.Line($"public const int SmallSize = {Literal.Of(plan.SmallSize)};");
            writer.Line();
        }
        writer.Line(plan.OutChannels == plan.InChannels
            ? "/// <summary>Channels of the output: the prediction only.</summary>"
            : "/// <summary>Channels of the output: the prediction, then the variance interpolation v.</summary>");
        writer.Line($"public const int OutChannels = {Literal.Of(plan.OutChannels)};");
        writer.Line();
        writer.Line("/// <summary>Base channel count; the timestep embedding is four times as wide.</summary>");
        writer.Line($"public const int ModelChannels = {Literal.Of(plan.ModelChannels)};");
        if (plan.ClassConditional)
        {
            writer.Line();
            writer.Line("/// <summary>Number of classes; labels are 0 to NumClasses − 1.</summary>");
            writer.Line($"public const int NumClasses = {Literal.Of(plan.NumClasses)};");
        }
        writer.Line();
        writer.Line($"const int EmbedChannels = {Literal.Of(plan.EmbedChannels)};");
        writer.Line($"const double Dropout = {Literal.Of(plan.Dropout)};");
        writer.Line();
        writer.Line("// Named as the reference's UNetModel names them: TorchSharp registers each module under its field name, so");
        writer.Line("// state_dict() has the reference's keys and its checkpoints load key for key.");
        writer.Line("public readonly Sequential time_embed;");
        if (plan.ClassConditional) writer.Line("public readonly Embedding label_emb;");
        writer.Line("public readonly ModuleList<TimestepEmbedSequential> input_blocks;");
        writer.Line("public readonly TimestepEmbedSequential middle_block;");
        writer.Line("public readonly ModuleList<TimestepEmbedSequential> output_blocks;");
        writer.Line("public readonly Sequential @out;");
        writer.Line();

        EmitConstructor(writer, spec);
        writer.Line();
        EmitForward(writer, plan);
        writer.Line();
        EmitFactories(writer, plan);
        writer.Close();
        writer.Close();
        return writer.ToString();
    }

    static void EmitConstructor(SourceWriter writer, ModelSpec spec)
    {
        var plan = spec.Network;
        writer.Open($"public Network() : base(\"{spec.ClassName}.Network\"{(plan.SuperResolution ? ", SmallSize" : "")})");
        writer.Line("time_embed = nn.Sequential(");
        writer.Indent();
        writer.Line("nn.Linear(ModelChannels, EmbedChannels),");
        writer.Line("new SiLU(),");
        writer.Line("nn.Linear(EmbedChannels, EmbedChannels));");
        writer.Outdent();
        if (plan.ClassConditional) writer.Line("label_emb = nn.Embedding(NumClasses, EmbedChannels);");
        writer.Line();
        EmitBlockList(writer, "input_blocks", plan.InputBlocks, plan);
        writer.Line();
        writer.Line($"middle_block = {Block(plan.MiddleBlock, plan)};");
        writer.Line();
        EmitBlockList(writer, "output_blocks", plan.OutputBlocks, plan);
        writer.Line();
        var last = plan.OutputBlocks[plan.OutputBlocks.Count - 1].OutChannels;
        writer.Line("@out = nn.Sequential(");
        writer.Indent();
        writer.Line($"new GroupNorm32({Literal.Of(last)}),");
        writer.Line("new SiLU(),");
        writer.Line("ModuleInit.Zeroed(new OutputConvolution(ModelChannels, OutChannels)));");
        writer.Outdent();
        writer.Line("RegisterComponents();");
        writer.Close();
    }

    static void EmitBlockList(SourceWriter writer, string field, EquatableArray<BlockPlan> blocks, NetworkPlan plan)
    {
        writer.Line($"{field} = nn.ModuleList(");
        writer.Indent();
        var resolution = -1;
        for (var i = 0; i < blocks.Count; i++)
        {
            if (blocks[i].Resolution != resolution)
            {
                resolution = blocks[i].Resolution;
                writer.Line($"// {resolution}x{resolution}");
            }
            writer.Line($"{Block(blocks[i], plan)}{(i == blocks.Count - 1 ? ");" : ",")}");
        }
        writer.Outdent();
    }

    static string Block(BlockPlan block, NetworkPlan plan) =>
        $"new TimestepEmbedSequential({string.Join(", ", block.Layers.Select(layer => Layer(layer, plan)))})";

    static string Layer(LayerPlan layer, NetworkPlan plan) => layer.Kind switch
    {
        LayerKind.InputConv => $"nn.Conv2d({(plan.SuperResolution ? "2 * InChannels" : "InChannels")}, {Literal.Of(layer.OutChannels)}, 3, padding: 1)",
        LayerKind.ResBlock => $"Res({Literal.Of(layer.InChannels)}, {Literal.Of(layer.OutChannels)})",
        LayerKind.Attention => $"Attention({Literal.Of(layer.InChannels)}, heads: {Literal.Of(layer.Heads)})",
        LayerKind.Downsample => $"new Downsample({Literal.Of(layer.InChannels)}, useConv: true)",
        _ => $"new Upsample({Literal.Of(layer.InChannels)}, useConv: true)",
    };

    static void EmitForward(SourceWriter writer, NetworkPlan plan)
    {
        writer.Line("/// <param name=\"x\">[N, InChannels, ImageSize, ImageSize] images.</param>");
        writer.Line("/// <param name=\"timesteps\">[N] timesteps exactly as they are to be embedded.</param>");
        if (plan.SuperResolution)
            writer.Line("/// <param name=\"lowRes\">[N, InChannels, SmallSize, SmallSize] low-resolution images in [-1, 1] (for other sizes of x, the same ratio).</param>");
        writer.Line(plan.ClassConditional
            ? "/// <param name=\"y\">[N] class labels (int64), required.</param>"
            : "/// <param name=\"y\">Must be null: this network is not class-conditional.</param>");
        writer.Line("/// <returns>[N, OutChannels, ImageSize, ImageSize].</returns>");
        writer.Open(plan.SuperResolution
            ? "public override Tensor forward(Tensor x, Tensor timesteps, Tensor lowRes, Tensor? y = null)"
            : "public override Tensor forward(Tensor x, Tensor timesteps, Tensor? y = null)");
        writer.Line($"NetworkChecks.Input(x, InChannels, sizeMultiple: {Literal.Of(1 << (plan.ChannelMult.Count - 1))}, timesteps);");
        if (plan.SuperResolution)
            writer.Line($"NetworkChecks.LowResolution(lowRes, x, InChannels, factor: {Literal.Of(plan.ImageSize / plan.SmallSize)});");
        if (plan.ClassConditional)
            writer.Line("if (y is null) throw new ArgumentNullException(nameof(y), \"this network is class-conditional: give class labels y\");");
        else
            writer.Line("if (y is not null) throw new ArgumentException(\"this network is not class-conditional: y must be null\", nameof(y));");
        writer.Line("using var scope = NewDisposeScope();");
        writer.Line("var emb = time_embed.call(TimestepEmbedding.Sinusoidal(timesteps, ModelChannels));");
        if (plan.ClassConditional)
        {
            writer.Line("NetworkChecks.Labels(y, x.shape[0]);");
            writer.Line("emb = emb.Plus(label_emb.call(y));");
        }
        writer.Line();
        if (plan.SuperResolution)
        {
            writer.Line("// The reference's SuperResModel: the low-resolution image, upsampled bilinearly to x's size (align_corners");
            writer.Line("// false, as F.interpolate's default), becomes InChannels more input channels.");
            writer.Line("var upsampled = UpsampleBilinear(lowRes, x.shape[2], x.shape[3]);");
            writer.Line("var input = cat(new[] { x, upsampled }, 1);");
            writer.Line();
        }
        var input = plan.SuperResolution ? "input" : "x";
        writer.Line("// The torso runs in the parameters' dtype and the output layers in the input's, as the reference's.");
        writer.Line($"var h = {input}.to(time_embed.parameters().First().dtype);");

        var skips = new Stack<string>();
        var resolution = -1;
        var previous = "h";
        for (var i = 0; i < plan.InputBlocks.Count; i++)
        {
            var block = plan.InputBlocks[i];
            if (block.Resolution != resolution)
            {
                resolution = block.Resolution;
                writer.Line($"// {resolution}x{resolution}, down");
            }
            var name = $"h{i}";
            writer.Line($"var {name} = input_blocks[{i}].call({previous}, emb);");
            skips.Push(name);
            previous = name;
        }
        writer.Line($"// {plan.MiddleBlock.Resolution}x{plan.MiddleBlock.Resolution}, middle");
        writer.Line($"h = middle_block.call({previous}, emb);");
        resolution = -1;
        for (var i = 0; i < plan.OutputBlocks.Count; i++)
        {
            var block = plan.OutputBlocks[i];
            if (block.Resolution != resolution)
            {
                resolution = block.Resolution;
                writer.Line($"// {resolution}x{resolution}, up");
            }
            writer.Line($"output_blocks[{i}].ForwardUp(ref h, {skips.Pop()}, emb);");
        }
        writer.Line($"return @out.call(h.to({input}.dtype)).MoveToOuterDisposeScope();");
        writer.Close();
    }

    static void EmitFactories(SourceWriter writer, NetworkPlan plan)
    {
        var extras = (plan.ScaleShiftNorm ? ", useScaleShiftNorm: true" : "") + (plan.Checkpointing ? ", useCheckpoint: true" : "");
        writer.Line("static ResBlock Res(long channels, long outChannels) =>");
        writer.Line($"    new(channels, EmbedChannels, Dropout, outChannels{extras});");
        writer.Line();
        writer.Line("static AttentionBlock Attention(long channels, long heads) =>");
        writer.Line($"    new(channels, heads{(plan.Checkpointing ? ", useCheckpoint: true" : "")});");
    }
}
