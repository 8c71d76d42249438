using System.Security.Cryptography;

namespace LlmRouter.Common.Audit;

/// <summary>
/// The Merkle tree hashing of RFC 6962 (kept by RFC 9162, section 2.1) over a route log's entries, with SHA-256:
/// a leaf is <c>SHA-256(0x00 || entry)</c>, an inner node <c>SHA-256(0x01 || left || right)</c>, and a tree of n
/// entries splits at the largest power of two below n. Inclusion proofs (an entry is in the tree of a checkpoint)
/// and consistency proofs (a later tree extends an earlier one, nothing rewritten or dropped) are computed and
/// verified as sections 2.1.3 and 2.1.4 define them. A log's current root is kept by <see cref="MerkleFrontier"/>.
/// </summary>
public static class MerkleTree
{
    public const int HashSize = 32;

    /// <summary>The root of an empty tree: the hash of nothing.</summary>
    public static byte[] EmptyRoot { get; } = SHA256.HashData([]);

    public static byte[] LeafHash(ReadOnlySpan<byte> entry)
    {
        var buffer = new byte[entry.Length + 1];
        entry.CopyTo(buffer.AsSpan(1));
        return SHA256.HashData(buffer);
    }

    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = 1;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>MTH(D[start:end]) over the leaf hashes.</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leaves, long start, long end)
    {
        var size = end - start;
        if (size == 0)
        {
            return EmptyRoot;
        }

        if (size == 1)
        {
            return leaves[(int)start];
        }

        var split = LargestPowerOfTwoBelow(size);
        return NodeHash(Root(leaves, start, start + split), Root(leaves, start + split, end));
    }

    public static byte[] Root(IReadOnlyList<byte[]> leaves) => Root(leaves, 0, leaves.Count);

    /// <summary>The audit path of the leaf at <paramref name="index"/> in the tree of the first <paramref name="size"/> leaves (PATH(m, D[n]), the leaf's sibling first).</summary>
    public static List<byte[]> InclusionProof(IReadOnlyList<byte[]> leaves, long index, long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, leaves.Count);
        var proof = new List<byte[]>();
        Path(leaves, index, 0, size, proof);
        return proof;
    }

    private static void Path(IReadOnlyList<byte[]> leaves, long index, long start, long end, List<byte[]> proof)
    {
        if (end - start <= 1)
        {
            return;
        }

        var split = LargestPowerOfTwoBelow(end - start);
        if (index < split)
        {
            Path(leaves, index, start, start + split, proof);
            proof.Add(Root(leaves, start + split, end));
        }
        else
        {
            Path(leaves, index - split, start + split, end, proof);
            proof.Add(Root(leaves, start, start + split));
        }
    }

    /// <summary>The proof that the tree of the first <paramref name="second"/> leaves extends the tree of the first <paramref name="first"/> (PROOF(m, D[n])).</summary>
    public static List<byte[]> ConsistencyProof(IReadOnlyList<byte[]> leaves, long first, long second)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(first);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, second);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(second, leaves.Count);
        var proof = new List<byte[]>();
        if (first > 0 && first < second)
        {
            SubProof(leaves, first, 0, second, whole: true, proof);
        }

        return proof;
    }

    private static void SubProof(IReadOnlyList<byte[]> leaves, long m, long start, long end, bool whole, List<byte[]> proof)
    {
        var size = end - start;
        if (m == size)
        {
            if (!whole)
            {
                proof.Add(Root(leaves, start, end));
            }

            return;
        }

        var split = LargestPowerOfTwoBelow(size);
        if (m <= split)
        {
            SubProof(leaves, m, start, start + split, whole, proof);
            proof.Add(Root(leaves, start + split, end));
        }
        else
        {
            SubProof(leaves, m - split, start + split, end, whole: false, proof);
            proof.Add(Root(leaves, start, start + split));
        }
    }

    /// <summary>Whether <paramref name="proof"/> shows the leaf at <paramref name="index"/> in the tree of <paramref name="size"/> leaves whose root is <paramref name="root"/> (RFC 9162, 2.1.3.2).</summary>
    public static bool VerifyInclusion(ReadOnlySpan<byte> leafHash, long index, long size, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root)
    {
        if (index < 0 || index >= size)
        {
            return false;
        }

        var fn = index;
        var sn = size - 1;
        var r = leafHash.ToArray();
        foreach (var p in proof)
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && r.AsSpan().SequenceEqual(root);
    }

    /// <summary>Whether <paramref name="proof"/> shows the tree of <paramref name="second"/> leaves (root <paramref name="secondRoot"/>) extends the tree of <paramref name="first"/> (root <paramref name="firstRoot"/>) (RFC 9162, 2.1.4.2).</summary>
    public static bool VerifyConsistency(long first, long second, ReadOnlySpan<byte> firstRoot, ReadOnlySpan<byte> secondRoot, IReadOnlyList<byte[]> proof)
    {
        if (first < 0 || first > second)
        {
            return false;
        }

        if (first == second)
        {
            return proof.Count == 0 && firstRoot.SequenceEqual(secondRoot);
        }

        if (first == 0)
        {
            // Every tree extends the empty one.
            return proof.Count == 0;
        }

        var path = new List<byte[]>(proof.Count + 1);
        if ((first & (first - 1)) == 0)
        {
            path.Add(firstRoot.ToArray());
        }

        path.AddRange(proof);
        if (path.Count == 0)
        {
            return false;
        }

        var fn = first - 1;
        var sn = second - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        var fr = path[0];
        var sr = path[0];
        foreach (var c in path.Skip(1))
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = NodeHash(c, fr);
                sr = NodeHash(c, sr);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                sr = NodeHash(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && fr.AsSpan().SequenceEqual(firstRoot) && sr.AsSpan().SequenceEqual(secondRoot);
    }

    /// <summary>The largest power of two strictly below <paramref name="size"/> (size at least 2).</summary>
    private static long LargestPowerOfTwoBelow(long size) => 1L << (63 - (int)long.LeadingZeroCount(size - 1));
}

/// <summary>
/// The right edge of a growing tree: the roots of its perfect subtrees, largest first (one per bit of the size), from
/// which the root of the whole tree follows. Appending costs O(log n) hashes and memory stays O(log n), so a node
/// keeps its log's root without holding its entries; a rotated segment starts from the frontier it was cut at.
/// </summary>
public sealed class MerkleFrontier
{
    private readonly List<byte[]> _subtrees;

    public MerkleFrontier() : this(0, [])
    {
    }

    /// <param name="size">Leaves so far.</param>
    /// <param name="subtrees">The perfect subtrees' roots, largest first: as many as the bits set in <paramref name="size"/>.</param>
    public MerkleFrontier(long size, IEnumerable<byte[]> subtrees)
    {
        _subtrees = subtrees.Select(s => s.ToArray()).ToList();
        if (long.PopCount(size) != _subtrees.Count || _subtrees.Exists(s => s.Length != MerkleTree.HashSize))
        {
            throw new ArgumentException($"a tree of {size} leaves has {long.PopCount(size)} perfect subtrees of {MerkleTree.HashSize} bytes, not {_subtrees.Count}", nameof(subtrees));
        }

        Size = size;
    }

    public long Size { get; private set; }

    /// <summary>The perfect subtrees' roots, largest first.</summary>
    public IReadOnlyList<byte[]> Subtrees => _subtrees;

    public void Append(byte[] leafHash)
    {
        _subtrees.Add(leafHash);
        // Each trailing one bit of the old size is a subtree as large as what is being merged: join them.
        for (var size = Size; (size & 1) == 1; size >>= 1)
        {
            var right = _subtrees[^1];
            var left = _subtrees[^2];
            _subtrees.RemoveRange(_subtrees.Count - 2, 2);
            _subtrees.Add(MerkleTree.NodeHash(left, right));
        }

        Size++;
    }

    /// <summary>MTH of every leaf appended: the subtrees folded from the right.</summary>
    public byte[] Root()
    {
        if (_subtrees.Count == 0)
        {
            return MerkleTree.EmptyRoot;
        }

        var root = _subtrees[^1];
        for (var i = _subtrees.Count - 2; i >= 0; i--)
        {
            root = MerkleTree.NodeHash(_subtrees[i], root);
        }

        return root;
    }

    public MerkleFrontier Copy() => new(Size, _subtrees);
}
