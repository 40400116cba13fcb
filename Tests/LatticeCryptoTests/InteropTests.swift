import Foundation
import Glibc
import LatticeCrypto
import Testing

/// A blocking loopback TCP socket with a receive timeout, for interop tests only.
final class LoopbackSocket {
    let fd: Int32
    init(fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
    deinit { close(fd) }

    static func address(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    static func connect(port: UInt16) throws -> LoopbackSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = address(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw CryptoError(.keyFile, "connect 127.0.0.1:\(port) errno \(errno)")
        }
        return LoopbackSocket(fd: fd)
    }

    /// Listens on 127.0.0.1 with an ephemeral port.
    static func listen() throws -> (LoopbackSocket, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0, Glibc.listen(fd, 1) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else {
            close(fd)
            throw CryptoError(.keyFile, "listen errno \(errno)")
        }
        return (LoopbackSocket(fd: fd), UInt16(bigEndian: address.sin_port))
    }

    func accept() throws -> LoopbackSocket {
        var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pollFD, 1, 20_000) == 1 else { throw CryptoError(.timeout, "accept timed out") }
        let client = Glibc.accept(fd, nil, nil)
        guard client >= 0 else { throw CryptoError(.keyFile, "accept errno \(errno)") }
        return LoopbackSocket(fd: client)
    }

    func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw CryptoError(.keyFile, "send errno \(errno)") }
            offset += n
        }
    }

    func readExactly(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            guard n > 0 else { throw CryptoError(.keyFile, "recv returned \(n) errno \(errno)") }
            offset += n
        }
        return out
    }

    func readFrame() throws -> [UInt8] {
        let prefix = try readExactly(2)
        return try readExactly(Int(prefix[0]) << 8 | Int(prefix[1]))
    }
}

/// Runs `Interop/noise_peer.py` (next to this file) with Foundation `Process`.
final class PythonNoisePeer {
    let process = Process()
    let stdout = Pipe()
    let stderr = Pipe()
    private var buffered = Data()

    init(arguments: [String]) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Interop/noise_peer.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
    }

    func readLine() -> String? {
        while true {
            if let newline = buffered.firstIndex(of: 10) {
                let line = String(decoding: buffered[buffered.startIndex..<newline], as: UTF8.self)
                buffered.removeSubrange(buffered.startIndex...newline)
                return line
            }
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffered.append(chunk)
        }
    }

    func finish() throws -> [String: Any] {
        let line = readLine()
        process.waitUntilExit()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0, let line,
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw CryptoError(.malformedMessage, "python peer failed (status \(process.terminationStatus)): \(errors)")
        }
        return object
    }
}

func pythonNoiseAvailable() -> Bool {
    let check = Process()
    check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    check.arguments = ["python3", "-c", "import noise.connection"]
    check.standardError = FileHandle.nullDevice
    guard (try? check.run()) != nil else { return false }
    check.waitUntilExit()
    return check.terminationStatus == 0
}

struct InteropSetup {
    let pskBytes: [UInt8]
    let psk: SecretKey
    let local: X25519KeyPair
    let remoteStaticHex: String

    init() throws {
        var random = SystemRandomNumberGenerator()
        pskBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        psk = try pskBytes.withUnsafeBytes { try SecretKey(copying: $0) }
        local = try X25519KeyPair.generate()
        remoteStaticHex = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }.hex
    }

    func arguments(role: String, port: UInt16 = 0) -> [String] {
        [
            "--role", role, "--port", String(port), "--psk", pskBytes.hex, "--prologue", LatticeHandshake.prologue.hex,
            "--static", remoteStaticHex, "--messages", "10", "--rekey-every", "4",
        ]
    }
}

let bigInteropMessage: [UInt8] = (0..<(65_535 - 16)).map { UInt8(truncatingIfNeeded: $0 * 7) }

// The limit guards against a hang only (the suite runs in parallel on 2 cores, and a loaded
// machine has been seen to need over a minute here): not a speed assertion.
@Test(.timeLimit(.minutes(4)))
func interopPythonInitiatorAgainstOurResponder() throws {
    try #require(pythonNoiseAvailable(), "python3 with noiseprotocol==0.3.1 is required (.ci/deps.sh installs it)")
    let setup = try InteropSetup()
    let (listener, port) = try LoopbackSocket.listen()
    let peer = try PythonNoisePeer(arguments: setup.arguments(role: "initiator", port: port))
    let connection = try listener.accept()
    let noise = try NoiseHandshakeState(
        protocolName: NoiseProtocolName(LatticeHandshake.protocolName),
        initiator: false,
        prologue: LatticeHandshake.prologue,
        localStatic: setup.local,
        psks: [setup.psk]
    )
    #expect(try noise.readMessage(connection.readFrame()) == Array("py-initiator-msg1".utf8))
    try connection.writeAll(FrameDecoder.frame(noise.writeMessage(payload: Array("swift-responder-msg2".utf8))))
    #expect(try noise.readMessage(connection.readFrame()) == Array("py-initiator-msg3".utf8))
    #expect(noise.isComplete)
    let (send, receive) = try noise.split()
    let stream = StreamCipher(send: send, receive: receive, rekeyInterval: 4)
    for i in 0..<10 {
        let request = try stream.open(connection.readFrame())
        #expect(request == Array("ping \(i)".utf8))
        try connection.writeAll(stream.seal(Array("pong ".utf8) + request))
    }
    #expect(try stream.open(connection.readFrame()) == bigInteropMessage)
    try connection.writeAll(stream.seal(bigInteropMessage))
    let result = try peer.finish()
    #expect(result["handshake_hash"] as? String == noise.handshakeHash.hex)
    #expect(result["remote_static"] as? String == setup.local.publicKey.hex)
    #expect(result["payloads"] as? [String] == ["swift-responder-msg2"])
    #expect(result["transcript"] as? [String] == (0..<10).map { "pong ping \($0)" })
    #expect(result["big_ok"] as? Bool == true)
}

// The limit guards against a hang only (the suite runs in parallel on 2 cores, and a loaded
// machine has been seen to need over a minute here): not a speed assertion.
@Test(.timeLimit(.minutes(4)))
func interopOurInitiatorAgainstPythonResponder() throws {
    try #require(pythonNoiseAvailable(), "python3 with noiseprotocol==0.3.1 is required (.ci/deps.sh installs it)")
    let setup = try InteropSetup()
    let peer = try PythonNoisePeer(arguments: setup.arguments(role: "responder"))
    let portLine = try #require(peer.readLine())
    let port = try #require(UInt16(portLine.replacingOccurrences(of: "PORT ", with: "")))
    let connection = try LoopbackSocket.connect(port: port)
    let noise = try NoiseHandshakeState(
        protocolName: NoiseProtocolName(LatticeHandshake.protocolName),
        initiator: true,
        prologue: LatticeHandshake.prologue,
        localStatic: setup.local,
        psks: [setup.psk]
    )
    try connection.writeAll(FrameDecoder.frame(noise.writeMessage(payload: Array("swift-initiator-msg1".utf8))))
    #expect(try noise.readMessage(connection.readFrame()) == Array("py-responder-msg2".utf8))
    // The responder's static key must be the one we gave Python.
    let expectedStatic = try X25519KeyPair(privateKey: secret(hex: setup.remoteStaticHex)).publicKey
    #expect(noise.remoteStaticKey == expectedStatic)
    try connection.writeAll(FrameDecoder.frame(noise.writeMessage(payload: Array("swift-initiator-msg3".utf8))))
    let (send, receive) = try noise.split()
    let stream = StreamCipher(send: send, receive: receive, rekeyInterval: 4)
    for i in 0..<10 {
        try connection.writeAll(stream.seal(Array("ping \(i)".utf8)))
        #expect(try stream.open(connection.readFrame()) == Array("pong ping \(i)".utf8))
    }
    try connection.writeAll(stream.seal(bigInteropMessage))
    #expect(try stream.open(connection.readFrame()) == bigInteropMessage)
    let result = try peer.finish()
    #expect(result["handshake_hash"] as? String == noise.handshakeHash.hex)
    #expect(result["payloads"] as? [String] == ["swift-initiator-msg1", "swift-initiator-msg3"])
    #expect(result["transcript"] as? [String] == (0..<10).map { "ping \($0)" })
    #expect(result["big_ok"] as? Bool == true)
}
