namespace LlmRouter.Common.Configuration;

/// <summary>
/// The configuration file cannot be used. <see cref="Errors"/> holds every problem found, each one as
/// "file:line:column: field.path: what is wrong", so an operator can fix them all in one pass.
/// </summary>
public sealed class ConfigException(string file, IReadOnlyList<string> errors)
    : Exception($"{file}: {errors.Count} configuration error(s):{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
{
    public string File { get; } = file;

    public IReadOnlyList<string> Errors { get; } = errors;
}
