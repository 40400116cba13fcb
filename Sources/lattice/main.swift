import Foundation
import LatticeAPI
import LatticeCRDT

#if canImport(Glibc)
    import Glibc
#endif

let usage = """
    lattice — offline-first peer-to-peer CRDT sync node

    usage: lattice COMMAND [ARGS] [--data DIR] [--json]

    node:
      init [--name N] [--fsync always|batch|none] [--join INVITE]   create a node, print its ID
      invite [--address HOST:PORT …]     print an invite to this node's network
      join INVITE                        store an invite's network key and trust its node
      keys [revoke NODE_ID]              list (or revoke) trusted node IDs
    documents:
      put COLLECTION ID field=value …    write fields (field=text, field:=JSON, field:b64=BASE64)
      get COLLECTION ID                  show a document (with conflicting siblings)
      ls COLLECTION [--where COND …] [--order F] [--limit N]   list (or query) documents
      rm COLLECTION ID                   delete a document
      set add|rm COLLECTION ID FIELD VALUE…   change a set field
      incr COLLECTION ID FIELD [N]       add N (default 1, negative decrements) to a counter
      text insert|delete|splice|convert COLLECTION ID FIELD ...  edit a collaborative text field
      conflicts                          list fields with concurrent values
      resolve COLLECTION ID FIELD VALUE  settle a conflict with VALUE
      history COLLECTION ID              the logged changes of a document
      forget COLLECTION ID [FIELD]       erase a document or field for good, on every node
      retention [list|apply] [--yes]     the retention rules' dry run, or apply them (synced erases)
    data:
      export [--collection C]            JSON lines to stdout (with the exact CRDT state)
      import FILE|-                      join an export into this node
      status                             documents, log, snapshot, pending changes per peer
      verify | repair | compact          check, salvage, or snapshot and shrink the log
    network:
      run [--listen HOST:PORT] [--peer ID@HOST:PORT …] [--isolated]
                                         run this node in the foreground (Docs/NODE.md)
      peers                              the running node's peers: state, lag, traffic, errors
      sync                               start an anti-entropy round with every peer now
      isolation [on|off]                 no network at all (saved; switches a running node)
      config [set KEY VALUE]             effective configuration and its sources (Docs/CONFIG.md)
      watch [--since C] [--documents]    stream the running node's changes (local and remote)
    other:
      demo [--keep] [--dir DIR]          three nodes on loopback: writes, one offline, concurrent
                                         edits, sync, the converged state and the conflict (start here)
      simulate [--nodes N] [--seed S] [--loss P] [--partitions K] [--crashes K] …
                                         a deterministic cluster simulation (Docs/SIMULATION.md)
      bench [--n N] [--only crdt,store,crypto] [--quick] [--json]
                                         run the benchmark workloads (build with -c release)
      version                            print the version
      help                               show this help

    The data directory is --data DIR, else $LATTICE_DATA, else ~/.lattice.
    Exit codes: 0 ok, 1 failure, 2 not found, 64 usage, 65 bad data, 69 locked, 77 permission,
    130 interrupted.
    Run `lattice COMMAND --help` for a command's options; see Docs/CLI.md.
    """

/// Runs one command in this process.
func dispatch(_ command: String, _ rest: [String]) throws {
    switch command {
    case "help", "--help", "-h": print(usage)
    case "version", "--version": print("lattice 0.1.0")
    case "bench": try runBench(rest[...])
    case "demo": try DemoCommand.run(rest)
    case "simulate": try SimulateCommand.run(rest)
    case "run": try RunCommand.run(rest)
    case "bench-w6":
        guard rest.count == 3, let n = Int(rest[1]) else { throw CLIError(message: "bench-w6 MODE N FILE") }
        let bench = CRDTBench(n: n)
        print(rest[0] == "load" ? bench.w6Load(file: rest[2]) : bench.w6Build())
    case "bench-text-rss":
        guard rest.count == 3, let n = Int(rest[1]) else { throw CLIError(message: "bench-text-rss MODE OPS FILE") }
        print(TextBench(ops: n).rssChild(mode: rest[0], file: rest[2]))
    case "watch": try WatchCommand.run(rest)
    case _ where NodeCommandTable.names.contains(command): try NodeCommandTable.dispatch(command, rest)
    default:
        throw CLIError(message: "unknown command '\(command)'; run `lattice help` for the list")
    }
}

func main() -> Int32 {
    let args = CommandLine.arguments.dropFirst()
    guard let command = args.first else {
        print(usage)
        return ExitCode.usage.rawValue
    }
    let rest = Array(args.dropFirst())
    do {
        if let code = try Hosting.forward(command, rest) {
            fflush(nil)
            return code
        }
        do { try dispatch(command, rest) } catch let error as CLIError where error.locked && Hosting.routed.contains(command) {
            // The directory is locked but its control socket is not there yet: a node is
            // starting. Wait for it (up to 5 s) and run the command through it.
            for _ in 0..<100 {
                usleep(50_000)
                if let code = try Hosting.forward(command, rest) {
                    fflush(nil)
                    return code
                }
            }
            throw error
        }
        fflush(nil)
        return ExitCode.ok.rawValue
    } catch let error as CLIError {
        fflush(nil)
        writeError(error.message)
        return error.code.rawValue
    } catch {
        fflush(nil)
        let e = cliError(error)
        writeError(e.message)
        return e.code.rawValue
    }
}

exit(main())
