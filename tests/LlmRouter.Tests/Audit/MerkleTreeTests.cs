using LlmRouter.Common.Audit;

namespace LlmRouter.Tests.Audit;

/// <summary>
/// RFC 6962 / 9162 hashing and proofs: the roots of Certificate Transparency's reference test tree, every inclusion
/// and consistency proof over trees up to 64 leaves verifying, and every proof with one hash changed, or checked
/// against the wrong index, size or root, failing.
/// </summary>
public sealed class MerkleTreeTests
{
    // The reference implementation's test leaves and the roots of their first 1 to 8.
    private static readonly byte[][] Leaves =
    [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ];

    private static readonly string[] Roots =
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    [Fact]
    public void Root_ReferenceVectors_MatchTheTreeAndTheFrontier()
    {
        var hashes = Leaves.Select(leaf => MerkleTree.LeafHash(leaf)).ToList();
        var frontier = new MerkleFrontier();
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Convert.ToHexStringLower(frontier.Root()));
        for (var size = 1; size <= Leaves.Length; size++)
        {
            frontier.Append(hashes[size - 1]);
            Assert.Equal(Roots[size - 1], Convert.ToHexStringLower(MerkleTree.Root(hashes, 0, size)));
            Assert.Equal(Roots[size - 1], Convert.ToHexStringLower(frontier.Root()));
        }
    }

    [Fact]
    public void Frontier_RebuiltFromItsSubtrees_GoesOnAsTheOriginal()
    {
        var hashes = Hashes(100);
        var frontier = new MerkleFrontier();
        for (var i = 0; i < hashes.Count; i++)
        {
            var copy = new MerkleFrontier(frontier.Size, frontier.Subtrees);
            frontier.Append(hashes[i]);
            copy.Append(hashes[i]);
            Assert.Equal(MerkleTree.Root(hashes, 0, i + 1), frontier.Root());
            Assert.Equal(frontier.Root(), copy.Root());
        }

        Assert.Throws<ArgumentException>(() => new MerkleFrontier(5, [hashes[0]]));
    }

    [Fact]
    public void InclusionProofs_VerifyForEveryLeafOfEverySize_AndFailWhenAnythingIsChanged()
    {
        var hashes = Hashes(64);
        for (var size = 1; size <= hashes.Count; size++)
        {
            var root = MerkleTree.Root(hashes, 0, size);
            for (var index = 0; index < size; index++)
            {
                var proof = MerkleTree.InclusionProof(hashes, index, size);
                Assert.True(MerkleTree.VerifyInclusion(hashes[index], index, size, proof, root), $"leaf {index} of {size}");
                Assert.False(MerkleTree.VerifyInclusion(hashes[(index + 1) % hashes.Count], index, size, proof, root));
                // A proof binds a size and its root: against the next tree's root it fails.
                if (size < hashes.Count)
                {
                    Assert.False(MerkleTree.VerifyInclusion(hashes[index], index, size + 1, proof, MerkleTree.Root(hashes, 0, size + 1)), $"leaf {index} of {size} checked as of {size + 1}");
                }

                if (size > 1)
                {
                    Assert.False(MerkleTree.VerifyInclusion(hashes[index], (index + 1) % size, size, proof, root));
                    for (var changed = 0; changed < proof.Count; changed++)
                    {
                        var tampered = proof.Select((p, i) => i == changed ? Flipped(p) : p).ToList();
                        Assert.False(MerkleTree.VerifyInclusion(hashes[index], index, size, tampered, root));
                    }
                }
            }
        }
    }

    [Fact]
    public void ConsistencyProofs_VerifyForEveryPairOfSizes_AndFailWhenAnythingIsChanged()
    {
        var hashes = Hashes(64);
        for (var second = 1; second <= hashes.Count; second++)
        {
            var secondRoot = MerkleTree.Root(hashes, 0, second);
            for (var first = 1; first <= second; first++)
            {
                var firstRoot = MerkleTree.Root(hashes, 0, first);
                var proof = MerkleTree.ConsistencyProof(hashes, first, second);
                Assert.True(MerkleTree.VerifyConsistency(first, second, firstRoot, secondRoot, proof), $"{first} to {second}");
                if (first == second)
                {
                    continue;
                }

                // A rewritten history: the first tree's root from other leaves.
                Assert.False(MerkleTree.VerifyConsistency(first, second, Flipped(firstRoot), secondRoot, proof));
                Assert.False(MerkleTree.VerifyConsistency(first, second, firstRoot, Flipped(secondRoot), proof));
                for (var changed = 0; changed < proof.Count; changed++)
                {
                    var tampered = proof.Select((p, i) => i == changed ? Flipped(p) : p).ToList();
                    Assert.False(MerkleTree.VerifyConsistency(first, second, firstRoot, secondRoot, tampered));
                }
            }
        }
    }

    private static List<byte[]> Hashes(int count) =>
        Enumerable.Range(0, count).Select(i => MerkleTree.LeafHash(System.Text.Encoding.UTF8.GetBytes($"entry {i}"))).ToList();

    private static byte[] Flipped(byte[] hash)
    {
        var copy = hash.ToArray();
        copy[^1] ^= 1;
        return copy;
    }
}
