using System.CommandLine;
using LlmRouter.Common.Access;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Node.Cli;

/// <summary>
/// <c>llm-router-node keys</c>: API keys in the file <c>access.keys_file</c> names. <c>create</c> prints a new key
/// once and stores only its salted hash; <c>list</c> shows ids, tenants and dates (never a key); <c>revoke</c>
/// removes one; <c>rotate</c> creates its successor for the same tenant and lets the old one work for a grace
/// period. Running nodes and integrators read the file again when it changes: no restart.
/// </summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml", Recursive = true };
        var command = new Command("keys", "Create, list, revoke and rotate API keys (stored as salted hashes)") { config };
        command.Subcommands.Add(CreateKey(config));
        command.Subcommands.Add(List(config));
        command.Subcommands.Add(Revoke(config));
        command.Subcommands.Add(Rotate(config));
        return command;
    }

    private static Command CreateKey(Option<string> config)
    {
        var tenant = new Option<string>("--tenant", "-t") { Description = "The tenant the key acts as", Required = true };
        var note = new Option<string?>("--note") { Description = "What the key is for (kept in the file, shown by list)" };
        var command = new Command("create", "Create a key for a tenant and print it once") { tenant, note };
        command.SetAction(parse => Run(parse.GetValue(config)!, (mesh, path, keys) =>
        {
            var name = parse.GetValue(tenant)!;
            if (mesh.FindTenant(name) is null)
            {
                throw new CommandException($"--tenant: '{name}' is not in tenants of {mesh.SourcePath} (tenants: {string.Join(", ", mesh.Tenants.Select(t => t.Name))})");
            }

            var (key, entry) = ApiKeys.Create(name, parse.GetValue(note), TimeProvider.System.GetUtcNow());
            ApiKeyFile.Write(path, [.. keys, entry]);
            Console.WriteLine(key);
            Console.Error.WriteLine($"API key {entry.Id} for tenant '{name}' stored in {path} as a salted hash: the line above is the only time the key is shown");
        }));
        return command;
    }

    private static Command List(Option<string> config)
    {
        var command = new Command("list", "List the keys: id, tenant, created, expires, note");
        command.SetAction(parse => Run(parse.GetValue(config)!, (_, path, keys) =>
        {
            Console.WriteLine($"{"id",-14} {"tenant",-20} {"created",-20} {"expires",-20} note");
            foreach (var key in keys)
            {
                Console.WriteLine($"{key.Id,-14} {key.Tenant,-20} {key.Created.UtcDateTime,-20:yyyy-MM-ddTHH:mm:ssZ} {(key.Expires is { } e ? e.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) : "-"),-20} {key.Note}");
            }

            Console.Error.WriteLine($"{keys.Count} key(s) in {path}");
        }));
        return command;
    }

    private static Command Revoke(Option<string> config)
    {
        var id = new Argument<string>("id") { Description = "The key's id (keys list)" };
        var command = new Command("revoke", "Remove a key: it stops working as soon as the processes read the file") { id };
        command.SetAction(parse => Run(parse.GetValue(config)!, (_, path, keys) =>
        {
            var entry = Find(keys, parse.GetValue(id)!, path);
            ApiKeyFile.Write(path, [.. keys.Where(k => k != entry)]);
            Console.Error.WriteLine($"API key {entry.Id} of tenant '{entry.Tenant}' removed from {path}");
        }));
        return command;
    }

    private static Command Rotate(Option<string> config)
    {
        var id = new Argument<string>("id") { Description = "The key to replace (keys list)" };
        var grace = new Option<string>("--grace") { Description = "How long the old key keeps working (0s, 10m, 24h)", DefaultValueFactory = _ => "1h" };
        var command = new Command("rotate", "Create a key's successor for the same tenant; the old one expires after --grace") { id, grace };
        command.SetAction(parse => Run(parse.GetValue(config)!, (_, path, keys) =>
        {
            var old = Find(keys, parse.GetValue(id)!, path);
            if (!Durations.TryParse(parse.GetValue(grace)!, out var period))
            {
                throw new CommandException($"--grace: '{parse.GetValue(grace)}' is not a duration (0s, 10m, 24h)");
            }

            var now = TimeProvider.System.GetUtcNow();
            if (old.ExpiredAt(now))
            {
                throw new CommandException($"id: key '{old.Id}' expired at {old.Expires:u}; create a new key for tenant '{old.Tenant}' instead");
            }

            // A rotation never lengthens a key's life: rotated twice, it keeps the earlier end.
            var expires = old.Expires is { } earlier && earlier < now + period ? earlier : now + period;
            var (key, successor) = ApiKeys.Create(old.Tenant, old.Note, now);
            ApiKeyFile.Write(path, [.. keys.Select(k => k == old ? k with { Expires = expires } : k), successor]);
            Console.WriteLine(key);
            Console.Error.WriteLine($"API key {successor.Id} replaces {old.Id} (tenant '{old.Tenant}'), which expires at {expires:u}; the line above is the only time the key is shown");
        }));
        return command;
    }

    private static ApiKeyEntry Find(IReadOnlyList<ApiKeyEntry> keys, string id, string path) =>
        keys.FirstOrDefault(k => k.Id == id) ?? throw new CommandException($"id: no key '{id}' in {path} (keys list shows them)");

    private static int Run(string configPath, Action<MeshConfig, string, IReadOnlyList<ApiKeyEntry>> action)
    {
        try
        {
            var mesh = NodeAddressOptions.LoadMesh(configPath);
            var path = mesh.Access.KeysFile ?? throw new CommandException($"{mesh.SourcePath} names no keys file: set access.keys_file (for example keys.yaml)");
            using var exclusive = Lock(path);
            action(mesh, path, ApiKeyFile.Read(path));
            return 0;
        }
        catch (Exception ex) when (ex is CommandException or InvalidDataException or IOException)
        {
            Console.Error.WriteLine(ex.Message);
            return 1;
        }
    }

    /// <summary>One keys command at a time edits the file (two at once would each write the file without the other's key).</summary>
    private static FileStream Lock(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // The lock file stays: deleting it on close would let a waiter lock a file another has already replaced.
                return new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < TimeSpan.FromSeconds(10))
            {
                Thread.Sleep(50);
            }
        }
    }

    private sealed class CommandException(string message) : Exception(message);
}
