import Foundation

/// Parsed arguments: positionals, valued options (repeatable) and boolean flags.
package struct Arguments {
    package var command: String
    package var positional: [String] = []
    package var values: [String: [String]] = [:]
    package var flags: Set<String> = []

    package var json: Bool { flags.contains("--json") }
    package var help: Bool { flags.contains("--help") }
    package func value(_ name: String) -> String? { values[name]?.last }

    /// Parses `args` for `command`. `--data`, `--json` and `--help`/`-h` are accepted everywhere.
    /// `--` ends options; a token like `-5` or `-1.5` is a positional (a negative number).
    package init(_ command: String, _ args: [String], valued: Set<String> = [], flags: Set<String> = []) throws(CLIError) {
        self.command = command
        let valued = valued.union(["--data"])
        let allFlags = flags.union(["--json", "--help"])
        var i = 0
        var onlyPositional = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if onlyPositional || !arg.hasPrefix("-") || arg == "-" || Double(arg) != nil {
                positional.append(arg)
                continue
            }
            if arg == "--" {
                onlyPositional = true
                continue
            }
            var name = arg
            var inline: String?
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            if name == "-h" { name = "--help" }
            if valued.contains(name) {
                if let inline {
                    values[name, default: []].append(inline)
                } else if i < args.count {
                    values[name, default: []].append(args[i])
                    i += 1
                } else {
                    throw CLIError(message: "\(command): \(name) needs a value; see lattice \(command) --help")
                }
            } else if allFlags.contains(name), inline == nil {
                self.flags.insert(name)
            } else {
                throw CLIError(message: "\(command): unknown option '\(arg)'; see lattice \(command) --help")
            }
        }
    }

    /// Throws a usage error unless the positional count is in `range`.
    package func expect(_ range: ClosedRange<Int>, _ synopsis: String) throws(CLIError) {
        guard range.contains(positional.count) else {
            throw CLIError(message: "usage: lattice \(synopsis) (see lattice \(command) --help)")
        }
    }

    /// The data directory: `--data`, else `LATTICE_DATA`, else `~/.lattice`.
    package var dataDirectory: String {
        if let d = value("--data"), !d.isEmpty { return d }
        if let d = ProcessInfo.processInfo.environment["LATTICE_DATA"], !d.isEmpty { return d }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + "/.lattice"
    }
}
