namespace LlmRouter.Common.Protocol;

/// <summary>
/// The image formats every vision backend takes (PNG, JPEG, GIF, WebP), told apart by their first bytes:
/// a declared media type is checked against the data rather than trusted, so a backend is never sent an
/// image it will refuse halfway through a request.
/// </summary>
internal static class ImageTypes
{
    public const string Png = "image/png";
    public const string Jpeg = "image/jpeg";
    public const string Gif = "image/gif";
    public const string Webp = "image/webp";

    public static IReadOnlyList<string> All { get; } = [Png, Jpeg, Gif, Webp];

    /// <summary>The supported list as a refusal names it.</summary>
    public static string Listed => string.Join(", ", All);

    public static bool IsSupported(string mediaType) => All.Contains(mediaType, StringComparer.OrdinalIgnoreCase);

    /// <summary>The media type the data's signature shows, or null when it is none of the supported formats.</summary>
    public static string? Detect(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return Png;
        }

        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
        {
            return Jpeg;
        }

        if (data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8))
        {
            return Gif;
        }

        return data.Length >= 12 && data.StartsWith("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8) ? Webp : null;
    }

    /// <summary>A short name for a media type in messages ("a JPEG").</summary>
    public static string Describe(string mediaType) => mediaType switch
    {
        Png => "a PNG",
        Jpeg => "a JPEG",
        Gif => "a GIF",
        Webp => "a WebP",
        _ => $"'{mediaType}'",
    };

    /// <summary>Splits a data URL (<c>data:image/png;base64,...</c>) into its media type and bytes; null when it is not a base64 data URL.</summary>
    public static (string MediaType, byte[] Data)? ParseDataUrl(string url)
    {
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0)
        {
            return null;
        }

        var header = url.AsSpan(5, comma - 5);
        const string Base64Suffix = ";base64";
        if (!header.EndsWith(Base64Suffix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            return (header[..^Base64Suffix.Length].ToString().ToLowerInvariant(), Convert.FromBase64String(url[(comma + 1)..]));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
