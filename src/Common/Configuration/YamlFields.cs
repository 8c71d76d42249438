using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LlmRouter.Common.Configuration;

/// <summary>Collects configuration errors with their position in the file.</summary>
internal sealed class ConfigErrorList(string file)
{
    private readonly List<string> _errors = [];

    public string File { get; } = file;

    public bool Any => _errors.Count > 0;

    public IReadOnlyList<string> Items => _errors;

    public void Add(Mark position, string path, string message) =>
        _errors.Add($"{File}:{position.Line}:{position.Column}: {path}: {message}");
}

/// <summary>
/// A YAML mapping being read into a config record. Every read names the field's path (for example
/// <c>pools[0].nodes[1].listen</c>) so errors say exactly what to fix; every key that no read asked
/// for is reported as unknown by <see cref="RejectUnknownKeys"/>.
/// </summary>
internal sealed class YamlFields
{
    private readonly YamlMappingNode _node;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public YamlFields(YamlMappingNode node, string path, ConfigErrorList errors)
    {
        _node = node;
        Path = path;
        Errors = errors;
    }

    public string Path { get; }

    public ConfigErrorList Errors { get; }

    public Mark Start => _node.Start;

    public string FieldPath(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    /// <summary>Reports keys that none of the reads asked for (typos, options of another version).</summary>
    public void RejectUnknownKeys()
    {
        foreach (var (keyNode, _) in _node.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (!_known.Contains(key))
            {
                var known = string.Join(", ", _known.Order(StringComparer.Ordinal));
                Errors.Add(keyNode.Start, FieldPath(key), $"unknown key (expected one of: {known})");
            }
        }
    }

    public string? String(string key, bool required = false)
    {
        var node = Find(key, required);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlScalarNode scalar || string.IsNullOrWhiteSpace(scalar.Value))
        {
            Errors.Add(node.Start, FieldPath(key), "must be a non-empty string");
            return null;
        }

        return scalar.Value.Trim();
    }

    /// <summary>A text that may be empty (<c>""</c>), taken as written; null when the key is absent.</summary>
    public string? Text(string key)
    {
        var node = Find(key, required: false);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlScalarNode scalar)
        {
            Errors.Add(node.Start, FieldPath(key), "must be a string (\"\" for none)");
            return null;
        }

        return scalar.Value ?? "";
    }

    /// <summary>Whether the key is present (and so known: it is not reported as unknown).</summary>
    public bool Has(string key) => Find(key, required: false) is not null;

    public int Int(string key, int fallback, int min, int max) =>
        (int)Number(key, fallback, min, max, integer: true);

    public double Double(string key, double fallback, double min, double max) =>
        Number(key, fallback, min, max, integer: false);

    public int? OptionalInt(string key, int min, int max)
    {
        if (Find(key, required: false) is null)
        {
            return null;
        }

        return Int(key, min, min, max);
    }

    public bool Bool(string key, bool fallback)
    {
        var node = Find(key, required: false);
        if (node is null)
        {
            return fallback;
        }

        if (node is YamlScalarNode { Value: { } text } && bool.TryParse(text, out var value))
        {
            return value;
        }

        Errors.Add(node.Start, FieldPath(key), "must be true or false");
        return fallback;
    }

    /// <summary>A duration written as "250ms", "30s" or "2m".</summary>
    public TimeSpan Duration(string key, TimeSpan fallback, TimeSpan min, TimeSpan max)
    {
        var node = Find(key, required: false);
        if (node is null)
        {
            return fallback;
        }

        var text = (node as YamlScalarNode)?.Value?.Trim() ?? "";
        if (!Durations.TryParse(text, out var value))
        {
            Errors.Add(node.Start, FieldPath(key), $"'{text}' is not a duration (write it as 250ms, 30s or 2m)");
            return fallback;
        }

        if (value < min || value > max)
        {
            Errors.Add(node.Start, FieldPath(key), $"{text} is outside {FormatDuration(min)}..{FormatDuration(max)}");
            return fallback;
        }

        return value;
    }

    /// <summary>An absolute http or https URL.</summary>
    public Uri? Url(string key, bool required, bool httpsOnly = false)
    {
        var text = String(key, required);
        if (text is null)
        {
            return null;
        }

        var valid = Uri.TryCreate(text, UriKind.Absolute, out var url)
            && (url.Scheme == Uri.UriSchemeHttps || (!httpsOnly && url.Scheme == Uri.UriSchemeHttp))
            && !string.IsNullOrEmpty(url.Host);
        if (!valid)
        {
            var expected = httpsOnly ? "an absolute https URL" : "an absolute http or https URL";
            Errors.Add(Find(key, false)!.Start, FieldPath(key), $"'{text}' is not {expected}");
            return null;
        }

        return url;
    }

    /// <summary>A list of strings, or one string written alone (<c>when: always</c> for <c>when: [always]</c>).</summary>
    public IReadOnlyList<string> StringOrList(string key) =>
        Find(key, required: false) is YamlScalarNode ? (String(key) is { } one ? [one] : []) : StringList(key);

    public IReadOnlyList<string> StringList(string key)
    {
        var node = Find(key, required: false);
        if (node is null)
        {
            return [];
        }

        if (node is not YamlSequenceNode sequence)
        {
            Errors.Add(node.Start, FieldPath(key), "must be a list of strings");
            return [];
        }

        var values = new List<string>();
        var index = 0;
        foreach (var item in sequence.Children)
        {
            if (item is YamlScalarNode { Value: { Length: > 0 } value })
            {
                values.Add(value.Trim());
            }
            else
            {
                Errors.Add(item.Start, $"{FieldPath(key)}[{index}]", "must be a non-empty string");
            }

            index++;
        }

        return values;
    }

    public YamlFields? Map(string key, bool required = false)
    {
        var node = Find(key, required);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlMappingNode mapping)
        {
            Errors.Add(node.Start, FieldPath(key), "must be a mapping (key: value lines)");
            return null;
        }

        return new YamlFields(mapping, FieldPath(key), Errors);
    }

    /// <summary>The entries of a mapping whose keys are names chosen by the operator (profiles).</summary>
    public IEnumerable<(string Name, YamlFields Fields)> NamedMaps(string key)
    {
        var map = Map(key);
        if (map is null)
        {
            yield break;
        }

        foreach (var (keyNode, valueNode) in map._node.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? "";
            map._known.Add(name);
            if (valueNode is YamlMappingNode mapping)
            {
                yield return (name, new YamlFields(mapping, map.FieldPath(name), Errors));
            }
            else
            {
                Errors.Add(valueNode.Start, map.FieldPath(name), "must be a mapping (key: value lines)");
            }
        }
    }

    public IEnumerable<YamlFields> MapList(string key, bool required)
    {
        var node = Find(key, required);
        if (node is null)
        {
            yield break;
        }

        if (node is not YamlSequenceNode sequence)
        {
            Errors.Add(node.Start, FieldPath(key), "must be a list");
            yield break;
        }

        if (required && sequence.Children.Count == 0)
        {
            Errors.Add(node.Start, FieldPath(key), "must list at least one entry");
        }

        var index = 0;
        foreach (var item in sequence.Children)
        {
            var path = $"{FieldPath(key)}[{index++}]";
            if (item is YamlMappingNode mapping)
            {
                yield return new YamlFields(mapping, path, Errors);
            }
            else
            {
                Errors.Add(item.Start, path, "must be a mapping (key: value lines)");
            }
        }
    }

    public Mark PositionOf(string key) => Find(key, required: false)?.Start ?? _node.Start;

    private static string FormatDuration(TimeSpan value) =>
        value.TotalSeconds >= 1 ? $"{value.TotalSeconds:0.###}s" : $"{value.TotalMilliseconds:0.###}ms";

    private double Number(string key, double fallback, double min, double max, bool integer)
    {
        var node = Find(key, required: false);
        if (node is null)
        {
            return fallback;
        }

        var text = (node as YamlScalarNode)?.Value ?? "";
        var parsed = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            && (!integer || value == Math.Floor(value));
        if (!parsed)
        {
            Errors.Add(node.Start, FieldPath(key), $"'{text}' is not {(integer ? "a whole number" : "a number")}");
            return fallback;
        }

        if (value < min || value > max)
        {
            Errors.Add(node.Start, FieldPath(key), $"{text} is outside {min.ToString(CultureInfo.InvariantCulture)}..{max.ToString(CultureInfo.InvariantCulture)}");
            return fallback;
        }

        return value;
    }

    private YamlNode? Find(string key, bool required)
    {
        _known.Add(key);
        if (_node.Children.TryGetValue(new YamlScalarNode(key), out var value)
            && !(value is YamlScalarNode { Value: null or "" } scalar && scalar.Style == ScalarStyle.Plain))
        {
            return value;
        }

        if (required)
        {
            Errors.Add(_node.Start, FieldPath(key), "is required but missing");
        }

        return null;
    }
}
