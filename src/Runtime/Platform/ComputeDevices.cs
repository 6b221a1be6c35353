using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>The devices a run can use, named as PyTorch names them.</summary>
public static partial class ComputeDevices
{
    /// <summary>
    /// <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> as a TorchSharp device; refuses other names, and CUDA when this build's
    /// libtorch has none (the <c>TorchSharp-cpu</c> backend) or the index names no GPU. Under <c>mpiexec</c>, <c>cuda</c>
    /// is the GPU of the rank's index on its machine (<see cref="Communicators.LocalRank"/>, modulo the GPU count).
    /// </summary>
    /// <exception cref="ArgumentException">The name, and why it cannot be used here.</exception>
    public static Device Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var match = DeviceName().Match(name.Trim());
        if (!match.Success) throw new ArgumentException($"--device {name}: expected cpu, cuda or cuda:N");
        if (match.Groups["type"].Value == "cpu") return CPU;
        if (!cuda.is_available())
        {
            throw new ArgumentException($"--device {name}: this build's libtorch has no usable CUDA (TorchSharp-cpu, or no GPU); " +
                "build with -p:ImprovedDdpmTorchBackend=cuda-linux on a machine with a GPU");
        }
        // Under an MPI launcher, one GPU per rank of the machine, as the reference's dist_util picks it.
        if (!match.Groups["index"].Success)
            return Communicators.LauncherVariable is null ? CUDA : device(TorchSharp.DeviceType.CUDA, Communicators.LocalRank % cuda.device_count());
        var index = int.Parse(match.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (index >= cuda.device_count()) throw new ArgumentException($"--device {name}: there are {cuda.device_count()} GPUs, numbered from 0");
        return device(TorchSharp.DeviceType.CUDA, index);
    }

    [GeneratedRegex(@"^(?<type>cpu|cuda)(:(?<index>\d{1,3}))?$", RegexOptions.IgnoreCase)]
    private static partial Regex DeviceName();
}
