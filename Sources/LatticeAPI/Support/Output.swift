package import Foundation
package import LatticeStore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes `lattice: LINE` (on one line) to stderr.
package func writeError(_ line: String) {
    let oneLine = line.replacingOccurrences(of: "\n", with: " ")
    FileHandle.standardError.write(Data("lattice: \(oneLine)\n".utf8))
}

/// Writes a line to stdout.
package func out(_ line: String) {
    if Hosting.captured != nil {
        Hosting.captured?.append(line)
    } else {
        print(line)
    }
}

/// Closes a store the command opened (not the running node's).
package func closeStore(_ store: ReplicaStore) throws {
    if Hosting.node == nil { try store.close() }
}

/// Reads a whole file or stdin ("-").
package func readInput(_ path: String) throws(CLIError) -> Data {
    if path == "-" { return Hosting.stdin ?? FileHandle.standardInput.readDataToEndOfFile() }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError(message: "cannot read \(path); check the path", code: .notFound)
    }
    return data
}

/// Flushes stdout (used by the crash writer, whose lines must be out before it acknowledges more).
package func flushOut() { fflush(nil) }
