using LlmRouter.Common.Configuration;

namespace LlmRouter.Integrator.Hosting;

/// <summary>What starts one integrator: the mesh file, the integrator's id in it, and how to log.</summary>
internal sealed record IntegratorLaunch(MeshConfig Mesh, string IntegratorId, bool JsonLogs)
{
    public IntegratorConfig Config => Mesh.FindIntegrator(IntegratorId) ?? throw new InvalidOperationException(
        $"{Mesh.SourcePath}: no integrator '{IntegratorId}' (integrators: {(Mesh.Integrators.Count > 0 ? string.Join(", ", Mesh.Integrators.Select(i => i.Id)) : "none")})");

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The source of chance of everything in the integrator (tests fix it).</summary>
    public Func<double> Random { get; init; } = Common.Hosting.Chance.System;

    /// <summary>The least severe level logged: the --log-level flag, or null for the mesh file's (telemetry.log_level).</summary>
    public Serilog.Events.LogEventLevel? MinimumLogLevel { get; init; }

    /// <summary>Overrides the Prometheus endpoint's address (tests pick a free port).</summary>
    public Uri? MetricsListenOverride { get; init; }

    /// <summary>How the process's signals stop the host; null keeps the default (tests stop hosts themselves).</summary>
    public IHostLifetime? Lifetime { get; init; }
}
