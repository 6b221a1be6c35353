using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm.Benchmarks;

/// <summary>
/// Where a CIFAR-10 training step and a sampling step spend their time:
/// <c>dotnet run -c Release --project benchmarks/ImprovedDdpm.Benchmarks -- profile [--batch 8] [--reps 5]</c>.
/// TorchSharp 0.107 has no autograd profiler, so the step's phases are timed with a stopwatch (CPU operations are
/// synchronous), and the forward pass by layer type with forward hooks (time inside a layer, its sub-layers excluded).
/// Backward cannot be split this way; it is one figure. Medians over the repetitions.
/// </summary>
static class StepProfile
{
    public static int Run(string[] args)
    {
        var batch = 8;
        var reps = 5;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--batch") batch = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--reps") reps = int.Parse(args[++i], CultureInfo.InvariantCulture);
        }
        var model = Examples.Cifar10.Cifar10Hybrid.Definition;
        manual_seed(0);
        using var network = model.CreateNetwork();
        var diffusion = model.CreateDiffusion("");
        var parameters = network.parameters().ToList();
        using var optimizer = new AdamWOptimizer(parameters, 1e-4);
        using var ema = new ExponentialMovingAverage(network, 0.9999);
        using var images = rand([batch, model.Channels, model.ImageSize, model.ImageSize]).Times(2).Minus(1);
        var noise = new SeededNoiseSource(1);
        Console.WriteLine($"Cifar10Hybrid, batch {batch}, {reps} repetitions after 1 warm-up, {get_num_threads()} libtorch threads, load {Load()}");

        var phases = new Dictionary<string, List<double>>();
        void Add(string name, double seconds) => (phases.TryGetValue(name, out var l) ? l : phases[name] = []).Add(seconds);
        for (var r = 0; r <= reps; r++)
        {
            using var scope = NewDisposeScope();
            network.train();
            var t = randint(diffusion.NumTimesteps, [batch]);
            var eps = randn_like(images);
            var watch = Stopwatch.StartNew();
            optimizer.ZeroGrad();
            var zero = watch.Elapsed.TotalSeconds;
            watch.Restart();
            var loss = diffusion.TrainingLosses((IDiffusionNetwork)network, images, t, eps).Loss.mean();
            var forward = watch.Elapsed.TotalSeconds;
            watch.Restart();
            loss.backward();
            var backward = watch.Elapsed.TotalSeconds;
            watch.Restart();
            double norm;
            using (no_grad())
            using (var two = 2.0.ToScalar())
            {
                var sums = parameters.Select(p => p.grad!.pow(two).sum()).ToList();
                norm = stack(sums).to(ScalarType.Float64).cpu().data<double>().Sum();
            }
            var gradNorm = watch.Elapsed.TotalSeconds;
            watch.Restart();
            optimizer.Step();
            var adam = watch.Elapsed.TotalSeconds;
            watch.Restart();
            ema.Update();
            var average = watch.Elapsed.TotalSeconds;
            if (r == 0) continue;
            Add("zero_grad", zero);
            Add("forward + losses", forward);
            Add("backward", backward);
            Add("gradient norm", gradNorm);
            Add("AdamW step", adam);
            Add("EMA update", average);
            Add("total", zero + forward + backward + gradNorm + adam + average);
        }
        Print("training step", phases);

        var byLayer = LayerTimes(network, reps, () =>
        {
            network.train();
            using var scope = NewDisposeScope();
            using var grad = enable_grad();
            var t = randint(diffusion.NumTimesteps, [batch]);
            ((IDiffusionNetwork)network).forward(images, t.to(ScalarType.Float32));
        });
        Print("training forward by layer (exclusive)", byLayer);

        phases.Clear();
        network.eval();
        using (no_grad())
        {
            for (var r = 0; r <= reps; r++)
            {
                using var scope = NewDisposeScope();
                using var step = (3999 - r).ToScalar();
                var watch = Stopwatch.StartNew();
                diffusion.PSample((IDiffusionNetwork)network, images, full([batch], step, ScalarType.Int64), noise);
                if (r > 0) Add("p_sample", watch.Elapsed.TotalSeconds);
            }
        }
        Print("sampling step (no_grad)", phases);
        var sampleLayers = LayerTimes(network, reps, () =>
        {
            network.eval();
            using var scope = NewDisposeScope();
            using var grad = no_grad();
            using var step = 3000f.ToScalar();
            ((IDiffusionNetwork)network).forward(images, full([batch], step));
        });
        Print("sampling forward by layer (exclusive)", sampleLayers);
        return 0;
    }

    /// <summary>Forward time per layer type, each layer's own time without its hooked sub-layers; "other" is the rest.</summary>
    static Dictionary<string, List<double>> LayerTimes(nn.Module network, int reps, Action forward)
    {
        var totals = new Dictionary<string, double>();
        var stack = new Stack<(Stopwatch Watch, double Children)>();
        var removers = new List<Action>();
        foreach (var module in network.modules())
        {
            if (module is not nn.Module<Tensor, Tensor> layer) continue;
            var name = layer switch
            {
                AttentionBlock => "attention (projections, QKV product, softmax, reshapes)",
                Conv2d or OutputConvolution => "conv2d",
                Sequential => null,
                _ => layer.GetType().Name,
            };
            if (name is null) continue;
            var pre = layer.register_forward_pre_hook((m, x) =>
            {
                stack.Push((Stopwatch.StartNew(), 0));
                return x;
            });
            removers.Add(pre.remove);
            var post = layer.register_forward_hook((m, x, y) =>
            {
                var (watch, children) = stack.Pop();
                var inclusive = watch.Elapsed.TotalSeconds;
                totals[name] = totals.GetValueOrDefault(name) + inclusive - children;
                if (stack.Count > 0)
                {
                    var parent = stack.Pop();
                    stack.Push((parent.Watch, parent.Children + inclusive));
                }
                return y;
            });
            removers.Add(post.remove);
        }
        var result = new Dictionary<string, List<double>>();
        for (var r = 0; r <= reps; r++)
        {
            totals.Clear();
            var watch = Stopwatch.StartNew();
            forward();
            var all = watch.Elapsed.TotalSeconds;
            if (r == 0) continue;
            foreach (var (name, seconds) in totals) (result.TryGetValue(name, out var l) ? l : result[name] = []).Add(seconds);
            (result.TryGetValue("other (glue, cat, embedding, up/down)", out var o) ? o : result["other (glue, cat, embedding, up/down)"] = []).Add(all - totals.Values.Sum());
            (result.TryGetValue("total", out var t) ? t : result["total"] = []).Add(all);
        }
        foreach (var remover in removers) remover();
        return result;
    }

    static void Print(string title, Dictionary<string, List<double>> phases)
    {
        Console.WriteLine();
        Console.WriteLine(title);
        var total = phases.TryGetValue("total", out var t) ? Median(t) : phases.Values.Sum(Median);
        foreach (var (name, values) in phases.OrderByDescending(p => p.Key == "total" ? -1 : Median(p.Value)))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-44} {Median(values) * 1000,9:F1} ms  {100 * Median(values) / total,5:F1} %"));
        }
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
}
