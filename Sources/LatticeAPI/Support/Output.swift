package import Foundation
package import LatticeStore
internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Writes `lattice: LINE` (on one line) to stderr.
package func writeError(_ line: String) {
    let oneLine = line.replacingOccurrences(of: "\n", with: " ")
    FileHandle.standardError.write(Data("lattice: \(oneLine)\n".utf8))
}

/// A note for the user on stderr (`lattice: LINE`) that is not an error: the command goes on
/// and exits 0. Inside a running node it goes back to the client with the command's output.
package func note(_ line: String) {
    if Hosting.notes != nil {
        Hosting.notes? += "lattice: \(line)\n"
    } else {
        writeError(line)
    }
}

/// Writes a line to stdout (C's buffered `stdout`, as `print` does, without its per-call
/// formatting: listings of a million lines stream at the speed of the store), or to the
/// running node's captured output.
package func out(_ line: String) {
    if Hosting.captured != nil {
        Hosting.captured?.append(line)
        Hosting.captured?.append("\n")
    } else {
        writeLine(line, to: clinux_stdout())
    }
}

/// Writes `line` and a newline to a C stream.
package func writeLine(_ line: String, to file: UnsafeMutablePointer<FILE>) {
    var line = line
    line.withUTF8 { bytes in
        if let base = bytes.baseAddress { _ = fwrite(base, 1, bytes.count, file) }
    }
    _ = fputc(10, file)
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
