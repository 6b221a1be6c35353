using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// How much libtorch's own C++ logging prints. On CPUs NNPACK does not support, libtorch 2.10 logs "Could not
/// initialize NNPACK! Reason: Unsupported hardware." at warning level on every small-batch convolution: thousands of
/// lines per sampled image. PyTorch's Python package sets the level from <c>TORCH_CPP_LOG_LEVEL</c> at import;
/// TorchSharp never does, so the tool does it here.
/// </summary>
public static class LibTorchLog
{
    /// <summary>c10's levels (<c>FLAGS_caffe2_log_level</c>): 0 info, 1 warning, 2 error, 3 fatal.</summary>
    const int ErrorLevel = 2;

    static bool configured;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    delegate void NativeAction();

    /// <summary>
    /// Honours <c>TORCH_CPP_LOG_LEVEL</c> when it is set, as PyTorch does; otherwise keeps only errors. Safe to call
    /// repeatedly; does nothing where libtorch's logging flag cannot be found.
    /// </summary>
    public static void Configure()
    {
        if (configured) return;
        configured = true;
        InitializeDeviceType(DeviceType.CPU); // loads libtorch, and with it libc10
        if (!NativeLibrary.TryLoad(OperatingSystem.IsWindows() ? "c10.dll" : OperatingSystem.IsMacOS() ? "libc10.dylib" : "libc10.so", out var c10))
            return;
        if (Environment.GetEnvironmentVariable("TORCH_CPP_LOG_LEVEL") is { Length: > 0 })
        {
            // c10::initLogging() reads TORCH_CPP_LOG_LEVEL itself.
            if (NativeLibrary.TryGetExport(c10, "_ZN3c1011initLoggingEv", out var initLogging))
            {
                Marshal.GetDelegateForFunctionPointer<NativeAction>(initLogging)();
            }
            return;
        }
        if (NativeLibrary.TryGetExport(c10, "FLAGS_caffe2_log_level", out var level)) Marshal.WriteInt32(level, ErrorLevel);
    }
}
