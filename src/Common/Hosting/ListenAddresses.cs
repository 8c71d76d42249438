using System.Net;

namespace LlmRouter.Common.Hosting;

/// <summary>The IP addresses a listener binds for the host of its configured URL (nodes and integrators alike).</summary>
public static class ListenAddresses
{
    public static IEnumerable<IPAddress> Of(string host)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            return [address];
        }

        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            ? [IPAddress.Loopback]
            : Dns.GetHostAddresses(host);
    }
}
