using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// Gradient checkpointing, as the reference's <c>nn.checkpoint</c>: a block's forward runs without recording its
/// intermediate activations, and the backward pass recomputes them from the block's saved inputs. Only the inputs are
/// kept per block instead of every activation inside it, for one more forward pass of the block during backward.
/// </summary>
/// <remarks>
/// <para>Gradients are those of the plain forward: the recomputation replays the same random draws (dropout masks).
/// On the CPU the global generator's state is saved before the forward and restored around the recomputation (the
/// reference's <c>CheckpointFunction</c> does not do this, so its dropout masks differ between forward and backward).
/// TorchSharp 0.107 cannot read a CUDA generator's state, so on CUDA the block's forward instead reseeds the current
/// device's default generator with a seed drawn from it, and the recomputation reseeds with the same seed.</para>
/// <para>Parameters are passed to the autograd function as extra inputs, so libtorch accumulates their gradients into
/// <c>.grad</c> as for any other input.</para>
/// </remarks>
public static class GradientCheckpoint
{
    /// <summary>
    /// Evaluates <paramref name="function"/> on <paramref name="inputs"/>, checkpointed when a graph would be recorded
    /// (gradients enabled and an input or a parameter requires them); otherwise simply calls it, at no extra cost.
    /// </summary>
    /// <param name="function">The block's forward: a pure function of the inputs and <paramref name="parameters"/>
    /// (called twice when checkpointed). It must not modify its inputs in place.</param>
    /// <param name="inputs">The tensors the block reads besides its parameters.</param>
    /// <param name="parameters">Every parameter <paramref name="function"/> uses; each that requires a gradient gets it.</param>
    /// <param name="preserveRandomState">Replay the forward's random draws in the recomputation (needed with active
    /// dropout; unneeded cost otherwise).</param>
    public static Tensor Run(Func<Tensor[], Tensor> function, Tensor[] inputs, IEnumerable<Parameter> parameters,
        bool preserveRandomState = true)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(parameters);
        // Inside another checkpoint's recomputation this block is recomputed with it: a checkpoint of its own would
        // only recompute it a second time.
        if (!is_grad_enabled() || recomputing > 0) return function(inputs);
        var trained = parameters.Where(p => p.requires_grad).ToArray();
        if (!inputs.Any(x => x.requires_grad) && trained.Length == 0) return function(inputs);

        GradientHandOff.Release();
        var state = new CheckpointState(function, inputs.Length, inputs.Select(x => x.requires_grad).ToArray(), trained,
            preserveRandomState ? RandomReplay.Capture(inputs[0].device) : null);
        var arguments = new object[1 + inputs.Length + trained.Length];
        arguments[0] = state;
        inputs.CopyTo(arguments, 1);
        trained.CopyTo(arguments, 1 + inputs.Length);
        // The scope frees what TorchSharp allocates per call beside the output (an empty_like cache of it, unused
        // because gradients are not materialised; the unwrapped output's handle).
        using var scope = NewDisposeScope();
        return CheckpointFunction.apply(arguments)[0].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Turns checkpointing on or off in every <see cref="ResBlock"/> and <see cref="AttentionBlock"/> of
    /// <paramref name="network"/>, whatever its <c>[UNet(Checkpointing)]</c> says; it takes effect at the next forward.
    /// </summary>
    /// <returns>The number of blocks set.</returns>
    public static int SetEnabled(nn.Module network, bool enabled)
    {
        ArgumentNullException.ThrowIfNull(network);
        var count = 0;
        foreach (var module in network.modules())
        {
            switch (module)
            {
                case ResBlock res:
                    res.UseCheckpoint = enabled;
                    count++;
                    break;
                case AttentionBlock attention:
                    attention.UseCheckpoint = enabled;
                    count++;
                    break;
            }
        }
        return count;
    }

    /// <summary>How many checkpoints this thread is recomputing (nested: a checkpointed step of checkpointed blocks).</summary>
    [ThreadStatic] static int recomputing;

    sealed record CheckpointState(Func<Tensor[], Tensor> Function, int InputCount, bool[] InputRequiresGrad,
        Parameter[] Parameters, RandomReplay? Random);

    /// <summary>Whether backward frees each block's saved inputs once it has recomputed the block (see the remarks in the source).</summary>
    public static bool ReleasesSavedInputs => CheckpointFunction.CanReleaseSavedInputs;

    sealed class CheckpointFunction : autograd.MultiTensorFunction<CheckpointFunction>
    {
        const string StateKey = "state";

        public override string Name => nameof(GradientCheckpoint);

        static readonly FieldInfo? SavedVariables =
            typeof(autograd.AutogradContext).GetField("_savedVariables", BindingFlags.NonPublic | BindingFlags.Instance);

        static readonly MethodInfo? ResetData =
            SavedVariables?.FieldType.GetGenericArguments().SingleOrDefault()?.GetMethod("reset_data", Type.EmptyTypes);

        /// <summary>Whether backward can free the saved inputs as it goes (TorchSharp 0.107's internals as expected).</summary>
        public static bool CanReleaseSavedInputs => ResetData is not null;

        /// <summary>
        /// Drops the context's hold on the saved inputs once backward has them, as libtorch's own nodes release their
        /// saved tensors after use (TorchSharp's custom nodes keep them until the whole graph is freed). Without it every
        /// block's input stays alive to the end of backward, beside the gradients of the skip connections: at batch 32
        /// of the CIFAR-10 model, peak RSS 2911 MB instead of 2716 MB. TorchSharp does not expose this, hence
        /// reflection; if its internals change, nothing is released early (more memory, same results) and a test says so.
        /// </summary>
        static void ReleaseSavedInputs(autograd.AutogradContext ctx)
        {
            if (ResetData is null || SavedVariables!.GetValue(ctx) is not System.Collections.IEnumerable variables) return;
            foreach (var variable in variables) ResetData.Invoke(variable, null);
        }

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            // TorchSharp calls this under no_grad, so nothing inside the block is recorded.
            var state = (CheckpointState)vars[0];
            var inputs = new Tensor[state.InputCount];
            for (var i = 0; i < inputs.Length; i++) inputs[i] = (Tensor)vars[1 + i];
            ctx.save_for_backward([.. inputs]);
            ctx.save_data(StateKey, state);
            // An undefined incoming gradient is handled below; materialising would read a cache the scope has freed.
            ctx.set_materialize_grads(false);
            Tensor output;
            using (state.Random?.Begin()) output = state.Function(inputs);
            return [output];
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
        {
            var state = (CheckpointState)ctx.get_data(StateKey);
            var gradients = new List<Tensor>(new Tensor[1 + state.InputCount + state.Parameters.Length]);
            try
            {
                // An exception must not cross back into libtorch's engine (that aborts the process): it is kept and
                // reported, and the step fails with an engine error at backward() instead.
                GradientHandOff.Release();
                if (grad_outputs[0].IsInvalid) return gradients;
                using var scope = NewDisposeScope();
                var saved = ctx.get_saved_variables();
                var inputs = new Tensor[state.InputCount];
                for (var i = 0; i < inputs.Length; i++) inputs[i] = saved[i].detach().requires_grad_(state.InputRequiresGrad[i]);
                ReleaseSavedInputs(ctx);
                Tensor output;
                recomputing++;
                try
                {
                    using (enable_grad())
                    using (state.Random?.Replay())
                        output = state.Function(inputs);
                }
                finally
                {
                    recomputing--;
                }

                var targets = new List<Tensor>();
                var positions = new List<int>();
                for (var i = 0; i < inputs.Length; i++)
                {
                    if (!state.InputRequiresGrad[i]) continue;
                    targets.Add(inputs[i]);
                    positions.Add(1 + i);
                }
                for (var i = 0; i < state.Parameters.Length; i++)
                {
                    targets.Add(state.Parameters[i]);
                    positions.Add(1 + state.InputCount + i);
                }
                if (!output.requires_grad) return gradients;
                var computed = autograd.grad([output], targets, [grad_outputs[0]], allow_unused: true);
                for (var i = 0; i < computed.Count; i++)
                {
                    if (computed[i].IsInvalid) continue;
                    // An input's gradient can be a slice of a wider one (a concatenation's, whose backward slices it);
                    // the engine keeps a skip connection's gradient until the down path's backward, and a slice would
                    // keep the whole concatenation's gradient with it.
                    var gradient = positions[i] <= state.InputCount && !computed[i].is_contiguous() ? computed[i].contiguous() : computed[i];
                    gradients[positions[i]] = gradient.MoveToOuterDisposeScope();
                    GradientHandOff.Add(gradient);
                }
                return gradients;
            }
            catch (Exception e)
            {
                LastBackwardFailure = e;
                Console.Error.WriteLine($"error: gradient checkpointing: recomputing a block in backward failed: {e.Message}");
                // A gradient of the wrong shape makes libtorch's engine raise, so backward() throws in the caller.
                gradients.Clear();
                gradients.AddRange(new Tensor[1 + state.InputCount + state.Parameters.Length]);
                var invalid = empty(0);
                GradientHandOff.Add(invalid);
                gradients[Array.IndexOf(state.InputRequiresGrad, true) is var first and >= 0 ? 1 + first : 1 + state.InputCount] = invalid;
                return gradients;
            }
            finally
            {
                foreach (var gradient in grad_outputs) gradient.Dispose();
            }
        }
    }

    /// <summary>The exception of the last recomputation that failed (its message also went to standard error).</summary>
    public static Exception? LastBackwardFailure { get; private set; }

    /// <summary>What the recomputation needs to draw the same random numbers as the forward.</summary>
    sealed class RandomReplay
    {
        readonly byte[]? cpuState;
        readonly long? cudaSeed;

        RandomReplay(byte[]? cpuState, long? cudaSeed)
        {
            this.cpuState = cpuState;
            this.cudaSeed = cudaSeed;
        }

        public static RandomReplay Capture(Device device)
        {
            if (device.type == DeviceType.CUDA)
            {
                // No access to a CUDA generator's state: reseed from a draw of the generator itself, which keeps the
                // run deterministic under the trainer's per-step seeding.
                using var drawn = randint(long.MaxValue, [1], ScalarType.Int64, device);
                return new RandomReplay(null, drawn.item<long>());
            }
            using var generator = Generator.Default;
            using var state = generator.get_state();
            return new RandomReplay(state.data<byte>().ToArray(), null);
        }

        /// <summary>Called before the forward: on CUDA, seeds the generator; on the CPU the state was read already.</summary>
        public IDisposable? Begin()
        {
            if (cudaSeed is { } seed) cuda.manual_seed(seed);
            return null;
        }

        /// <summary>Sets the forward's state for the recomputation; on the CPU, disposing restores the current one.</summary>
        public IDisposable Replay()
        {
            if (cudaSeed is { } seed)
            {
                cuda.manual_seed(seed);
                return new Restore(null);
            }
            var generator = Generator.Default;
            var current = generator.get_state();
            using (var forward = tensor(cpuState!, ScalarType.Byte)) generator.set_state(forward);
            return new Restore(() =>
            {
                generator.set_state(current);
                current.Dispose();
                generator.Dispose();
            });
        }

        sealed class Restore(Action? undo) : IDisposable
        {
            public void Dispose() => undo?.Invoke();
        }
    }
}
