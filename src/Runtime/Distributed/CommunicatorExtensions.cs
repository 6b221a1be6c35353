using System.Text;

namespace ImprovedDdpm;

/// <summary>Collectives built from the primitive ones of <see cref="ICommunicator"/>.</summary>
public static class CommunicatorExtensions
{
    /// <summary>Rank <paramref name="root"/>'s <paramref name="text"/> on every rank (the others' is ignored).</summary>
    public static string BroadcastString(this ICommunicator communicator, string text, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(text);
        if (communicator.Size == 1) return text;
        var bytes = communicator.Rank == root ? Encoding.UTF8.GetBytes(text) : [];
        Span<long> length = [bytes.LongLength];
        communicator.Broadcast(length, root);
        if (communicator.Rank != root) bytes = new byte[length[0]];
        communicator.Broadcast<byte>(bytes, root);
        return Encoding.UTF8.GetString(bytes);
    }
}
