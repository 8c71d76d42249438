using System.Formats.Asn1;

namespace LlmRouter.Common.Identity;

/// <summary>Reads URI entries from a subjectAltName extension (RFC 5280 section 4.2.1.6).</summary>
internal static class SubjectAlternativeNames
{
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    public static IEnumerable<string> ReadUris(byte[] extensionValue)
    {
        var uris = new List<string>();
        try
        {
            var reader = new AsnReader(extensionValue, AsnEncodingRules.DER);
            var names = reader.ReadSequence();
            while (names.HasData)
            {
                var tag = names.PeekTag();
                if (tag.HasSameClassAndValue(UriTag))
                {
                    uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                }
                else
                {
                    names.ReadEncodedValue();
                }
            }
        }
        catch (AsnContentException)
        {
            // A malformed extension names no identity; the caller refuses the certificate.
        }

        return uris;
    }
}
