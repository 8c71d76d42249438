namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// Tests that start real node processes run alone: on a 2-core machine, other tests running beside five
/// .NET processes would starve them of CPU and turn timing into false suspicions.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "real processes";
}
