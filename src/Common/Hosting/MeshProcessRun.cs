using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// How a node or integrator process runs (its <c>run</c> command): development certificates on a new
/// machine, the host started, then stopped in order (drain first) on SIGTERM, SIGINT or SIGQUIT, or, when
/// a parent owns it, when the parent goes away.
/// </summary>
internal static class MeshProcessRun
{
    /// <summary>The option a parent (<c>up</c>) starts its children with: stop when standard input closes.</summary>
    public const string ExitWithParent = "--exit-with-parent";

    public static async Task<int> RunAsync(MeshConfig mesh, bool exitWithParent, Func<IHostLifetime, WebApplication> build)
    {
        // First run on a new machine: development certificates for the whole file (never committed).
        var created = new CertificateStore(mesh.CertificatesDirectory).EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        if (created.Count > 0)
        {
            await Console.Error.WriteLineAsync($"created development certificates in {mesh.CertificatesDirectory}: {string.Join(", ", created)}").ConfigureAwait(false);
        }

        using var lifetime = new SignalLifetime();
        if (exitWithParent)
        {
            lifetime.StopWhenInputCloses();
        }

        await using var app = build(lifetime);
        await app.StartAsync().ConfigureAwait(false);
        await lifetime.WaitForSignalAsync().ConfigureAwait(false);
        await app.StopAsync().ConfigureAwait(false);
        return 0;
    }
}
