/// The commands this library implements, by name: every command a running node answers
/// (`Hosting.routed`, which the HTTP API and the control socket run), and the store and key
/// commands next to them (`init`, `verify`, `repair`, the hidden `crash-writer`). The
/// executable parses nothing of these itself; it hands their arguments here.
package enum NodeCommandTable {
    /// Every command name `dispatch` runs.
    package static let names: Set<String> = Hosting.routed.union(["init", "verify", "repair", "crash-writer"])

    /// Runs one command in this process (in a hosting node: on its loop thread).
    /// - Parameters:
    ///   - command: a name in `names`.
    ///   - rest: its arguments, as given on the command line.
    /// - Throws: the command's `CLIError` (a usage error for a name not in `names`).
    package static func dispatch(_ command: String, _ rest: [String]) throws(CLIError) {
        switch command {
        case "init": try NodeCommands.initNode(rest)
        case "invite": try NodeCommands.invite(rest)
        case "join": try NodeCommands.join(rest)
        case "keys": try NodeCommands.keys(rest)
        case "put": try DocumentCommands.put(rest)
        case "get": try DocumentCommands.get(rest)
        case "ls": try DocumentCommands.ls(rest)
        case "rm": try DocumentCommands.rm(rest)
        case "set": try DocumentCommands.set(rest)
        case "incr": try DocumentCommands.incr(rest)
        case "text": try TextCommands.run(rest)
        case "conflicts": try DocumentCommands.conflicts(rest)
        case "resolve": try DocumentCommands.resolve(rest)
        case "history": try DocumentCommands.history(rest)
        case "forget": try ForgetCommand.run(rest)
        case "retention": try RetentionCommand.run(rest)
        case "export": try StoreCommands.export(rest)
        case "import": try StoreCommands.importState(rest)
        case "status": try StoreCommands.status(rest)
        case "peers": try PeerCommands.peers(rest)
        case "sync": try PeerCommands.sync(rest)
        case "isolation": try ConfigCommands.isolation(rest)
        case "config": try ConfigCommands.config(rest)
        case "verify": try StoreCommands.verify(rest)
        case "repair": try StoreCommands.repair(rest)
        case "compact": try StoreCommands.compact(rest)
        case "crash-writer": try StoreCommands.crashWriter(rest)
        default:
            throw CLIError(message: "unknown command '\(command)'; run `lattice help` for the list")
        }
    }
}
