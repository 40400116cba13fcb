import Foundation
import LatticeCRDT
import LatticeCrypto
import LatticeStore

/// Exit codes (documented in Docs/CLI.md), following sysexits(3) where one fits.
package enum ExitCode: Int32 {
    case ok = 0
    case failure = 1
    case notFound = 2
    case usage = 64  // EX_USAGE
    case dataError = 65  // EX_DATAERR
    case unavailable = 69  // EX_UNAVAILABLE
    case permission = 77  // EX_NOPERM
    case interrupted = 130  // 128 + SIGINT: `demo` stopped by a signal (its nodes stopped)
}

/// A command-line error: one line that says what to do, and an exit code.
package struct CLIError: Error {
    package var message: String
    package var code: ExitCode = .usage
    /// The data directory is locked by another process (a node, or another command).
    package var locked = false

    /// An error with its message, exit code (a usage error unless given) and lock flag.
    package init(message: String, code: ExitCode = .usage, locked: Bool = false) {
        self.message = message
        self.code = code
        self.locked = locked
    }
}

/// Maps any error to a one-line CLI error with the documented exit code.
package func cliError(_ error: any Error) -> CLIError {
    switch error {
    case let e as CLIError:
        return e
    case let e as StoreError:
        switch e.code {
        case .locked: return CLIError(message: e.message, code: .unavailable, locked: true)
        case .corrupt: return CLIError(message: "\(e.message)", code: .dataError)
        case .permissionDenied: return CLIError(message: "\(e.message); check the data directory's owner and mode", code: .permission)
        case .notFound: return CLIError(message: e.message, code: .notFound)
        case .noSpace: return CLIError(message: "\(e.message); free disk space and retry (the change was not saved)", code: .failure)
        default: return CLIError(message: e.message, code: .failure)
        }
    case let e as ReplicaStoreError:
        return CLIError(message: e.message, code: .dataError)
    case let e as CryptoError:
        if e.code == .insecurePermissions { return CLIError(message: e.description, code: .permission) }
        if e.code == .keyFile { return CLIError(message: e.description, code: .dataError) }
        return CLIError(message: e.description, code: .failure)
    case let e as EditError where e.code != .kindMismatch:
        return CLIError(message: e.description, code: .dataError)
    case let e as EditError:
        return CLIError(
            message: "\(e.path) is a \(e.existing.rawValue), not a \(e.attempted.rawValue); use the \(e.existing.rawValue) command or another field name",
            code: .dataError)
    default:
        return CLIError(message: "\(error)", code: .failure)
    }
}
