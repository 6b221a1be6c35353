using System.Collections;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// AdamW's state in the layout of PyTorch's <c>optimizer.state_dict()</c>, as the reference saves <c>opt*.pt</c> with
/// <c>torch.save</c>: <c>{"state": {i: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups": [{"lr", "betas", "eps",
/// "weight_decay", "amsgrad", …, "params": [0, 1, …]}]}</c>, parameters numbered in the network's parameter order.
/// Parameters that never took a step have no entry, as in PyTorch. TorchSharp's own <c>save_state_dict</c> writes a
/// format only TorchSharp reads; this one <c>torch.load</c> reads too, and reference files load here.
/// </summary>
public static class OptimizerCheckpoint
{
    /// <summary>Writes the moments, step counts and hyperparameters of <paramref name="optimizer"/> (atomically).</summary>
    public static void Save(AdamWOptimizer optimizer, string path)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var scope = NewDisposeScope();
        var state = new Hashtable();
        var indices = new ArrayList();
        for (var i = 0; i < optimizer.States.Count; i++)
        {
            indices.Add(i);
            var parameterState = optimizer.States[i];
            if (parameterState.Step == 0) continue;
            state[i] = new Hashtable
            {
                ["step"] = tensor((float)parameterState.Step),
                ["exp_avg"] = parameterState.ExpAvg.detach().cpu().contiguous(),
                ["exp_avg_sq"] = parameterState.ExpAvgSq.detach().cpu().contiguous(),
            };
        }
        var group = new Hashtable
        {
            ["lr"] = optimizer.LearningRate,
            ["betas"] = new object[] { optimizer.Beta1, optimizer.Beta2 },
            ["eps"] = optimizer.Eps,
            ["weight_decay"] = optimizer.WeightDecay,
            ["amsgrad"] = false,
            ["foreach"] = null,
            ["maximize"] = false,
            ["capturable"] = false,
            ["differentiable"] = false,
            ["fused"] = null,
            ["params"] = indices,
        };
        var root = new Hashtable { ["state"] = state, ["param_groups"] = new ArrayList { group } };
        AtomicFile.Write(path, stream => TorchZipWriter.Write(stream, root));
    }

    /// <summary>
    /// Restores moments and step counts saved by <see cref="Save"/> (or by PyTorch for the same parameters in the same
    /// order). Hyperparameters are not taken from the file: the run's options set them. Parameters without an entry
    /// start afresh, as in PyTorch.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is damaged (a zip entry whose CRC-32 does not match) or not an
    /// optimizer state for these parameters.</exception>
    public static void Load(AdamWOptimizer optimizer, string path)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"Optimizer state {path} does not exist.", path);
        using var scope = NewDisposeScope();
        Hashtable root;
        using (var stream = File.OpenRead(path))
        {
            ZipIntegrity.Verify(stream, path);
            try
            {
                root = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: true, skipTensorRead: false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new InvalidDataException($"{path} cannot be read as a PyTorch optimizer state; is it truncated or damaged? ({e.Message})", e);
            }
        }

        var loaded = new List<Tensor>();
        try
        {
            if (root["state"] is not Hashtable state || root["param_groups"] is not ArrayList groups)
                throw new InvalidDataException($"{path} is not an optimizer state dict: it lacks 'state' or 'param_groups'.");
            foreach (var value in state.Values)
            {
                if (value is Hashtable entry) loaded.AddRange(entry.Values.OfType<Tensor>());
            }

            // The reference optimises one group holding every parameter; its 'params' numbers them in model order.
            if (groups.Count != 1)
                throw new InvalidDataException($"{path} has {groups.Count} parameter groups; the optimizer has 1.");
            var fileParams = (groups[0] as Hashtable)?["params"] as ArrayList
                ?? throw new InvalidDataException($"{path}: parameter group 0 has no 'params' list.");
            if (fileParams.Count != optimizer.States.Count)
                throw new InvalidDataException($"{path}: parameter group 0 holds {fileParams.Count} parameters; the network has {optimizer.States.Count}.");

            var byIndex = state.Keys.Cast<object>().ToDictionary(Convert.ToInt32, key => state[key] as Hashtable);
            using var gradients = no_grad();
            for (var i = 0; i < optimizer.States.Count; i++)
            {
                var target = optimizer.States[i];
                if (!byIndex.TryGetValue(Convert.ToInt32(fileParams[i]), out var entry) || entry is null || entry.Count == 0)
                {
                    target.Step = 0;
                    target.ExpAvg.zero_();
                    target.ExpAvgSq.zero_();
                    continue;
                }
                var expAvg = Moment(entry, "exp_avg", target.ExpAvg, path, i);
                var expAvgSq = Moment(entry, "exp_avg_sq", target.ExpAvgSq, path, i);
                target.Step = entry["step"] switch
                {
                    Tensor step => (long)Math.Round(step.to(ScalarType.Float64).item<double>()),
                    { } number => Convert.ToInt64(number),
                    null => throw new InvalidDataException($"{path}: the state of parameter {i} has no 'step'."),
                };
                target.ExpAvg.copy_(expAvg);
                target.ExpAvgSq.copy_(expAvgSq);
            }
        }
        finally
        {
            foreach (var tensor in loaded) tensor.Dispose();
        }
    }

    static Tensor Moment(Hashtable entry, string key, Tensor like, string path, int index)
    {
        if (entry[key] is not Tensor value)
            throw new InvalidDataException($"{path}: the state of parameter {index} has no '{key}'.");
        if (!value.shape.SequenceEqual(like.shape))
        {
            throw new InvalidDataException(
                $"{path}: '{key}' of parameter {index} has shape [{string.Join(", ", value.shape)}], the parameter's is [{string.Join(", ", like.shape)}].");
        }
        return value;
    }
}
