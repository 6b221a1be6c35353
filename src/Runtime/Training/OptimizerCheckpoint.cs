using System.Collections;
using TorchSharp.Modules;
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
    public static void Save(AdamW optimizer, string path)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var scope = NewDisposeScope();
        var stateDict = optimizer.state_dict();
        var state = new Hashtable();
        var groups = new ArrayList();
        for (var g = 0; g < stateDict.Options.Count; g++)
        {
            var options = (AdamW.Options)stateDict.Options[g];
            var indices = new ArrayList();
            foreach (var index in stateDict.StateIndexRef[g])
            {
                indices.Add(index);
                var parameterState = (AdamW.State)stateDict.State[index];
                if (parameterState.step == 0) continue;
                var entry = new Hashtable
                {
                    ["step"] = tensor((float)parameterState.step),
                    ["exp_avg"] = parameterState.exp_avg.detach().cpu().contiguous(),
                    ["exp_avg_sq"] = parameterState.exp_avg_sq.detach().cpu().contiguous(),
                };
                if (parameterState.max_exp_avg_sq is { } max) entry["max_exp_avg_sq"] = max.detach().cpu().contiguous();
                state[index] = entry;
            }
            groups.Add(new Hashtable
            {
                ["lr"] = options.LearningRate!.Value,
                ["betas"] = new object[] { options.beta1!.Value, options.beta2!.Value },
                ["eps"] = options.eps!.Value,
                ["weight_decay"] = options.weight_decay!.Value,
                ["amsgrad"] = options.amsgrad!.Value,
                ["foreach"] = null,
                ["maximize"] = options.maximize!.Value,
                ["capturable"] = false,
                ["differentiable"] = false,
                ["fused"] = null,
                ["params"] = indices,
            });
        }
        var root = new Hashtable { ["state"] = state, ["param_groups"] = groups };
        AtomicFile.Write(path, stream => TorchZipWriter.Write(stream, root));
    }

    /// <summary>
    /// Restores moments and step counts saved by <see cref="Save"/> (or by PyTorch for the same parameters in the same
    /// order). Hyperparameters are not taken from the file: the run's options set them. Parameters without an entry
    /// start afresh, as in PyTorch.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is damaged (a zip entry whose CRC-32 does not match) or not an
    /// optimizer state for these parameters.</exception>
    public static void Load(AdamW optimizer, string path)
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

            var stateDict = optimizer.state_dict();
            if (groups.Count != stateDict.Options.Count)
                throw new InvalidDataException($"{path} has {groups.Count} parameter groups; the optimizer has {stateDict.Options.Count}.");
            var fileIndex = new int[stateDict.State.Count];
            for (var g = 0; g < groups.Count; g++)
            {
                var fileParams = (groups[g] as Hashtable)?["params"] as ArrayList
                    ?? throw new InvalidDataException($"{path}: parameter group {g} has no 'params' list.");
                var ours = stateDict.StateIndexRef[g];
                if (fileParams.Count != ours.Count)
                    throw new InvalidDataException($"{path}: parameter group {g} holds {fileParams.Count} parameters; the network has {ours.Count}.");
                for (var i = 0; i < ours.Count; i++) fileIndex[ours[i]] = Convert.ToInt32(fileParams[i]);
            }

            var byIndex = state.Keys.Cast<object>().ToDictionary(Convert.ToInt32, key => state[key] as Hashtable);
            using var gradients = no_grad();
            for (var i = 0; i < stateDict.State.Count; i++)
            {
                var target = (AdamW.State)stateDict.State[i];
                if (!byIndex.TryGetValue(fileIndex[i], out var entry) || entry is null || entry.Count == 0)
                {
                    target.Initialize(stateDict.Options[0]);
                    continue;
                }
                var expAvg = Moment(entry, "exp_avg", target.exp_avg, path, i);
                var expAvgSq = Moment(entry, "exp_avg_sq", target.exp_avg_sq, path, i);
                target.step = entry["step"] switch
                {
                    Tensor step => (long)Math.Round(step.to(ScalarType.Float64).item<double>()),
                    { } number => Convert.ToInt64(number),
                    null => throw new InvalidDataException($"{path}: the state of parameter {i} has no 'step'."),
                };
                target.exp_avg.copy_(expAvg);
                target.exp_avg_sq.copy_(expAvgSq);
                if (target.max_exp_avg_sq is { } max && entry["max_exp_avg_sq"] is Tensor loadedMax) max.copy_(loadedMax);
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
