import Foundation
import LatticeCrypto
import Testing

struct NoiseVectorFile: Decodable {
    struct Message: Decodable {
        var payload: String
        var ciphertext: String
    }
    struct Vector: Decodable {
        var protocol_name: String
        var init_prologue: String
        var resp_prologue: String
        var init_ephemeral: String?
        var resp_ephemeral: String?
        var init_static: String?
        var resp_static: String?
        var init_remote_static: String?
        var resp_remote_static: String?
        var init_psks: [String]?
        var resp_psks: [String]?
        var handshake_hash: String?
        var messages: [Message]
        var source: String?
    }
    var vectors: [Vector]
}

func loadNoiseVectors() throws -> [NoiseVectorFile.Vector] {
    let url = try #require(
        Bundle.module.url(forResource: "noise-25519-chachapoly-sha256", withExtension: "json", subdirectory: "Vectors")
    )
    return try JSONDecoder().decode(NoiseVectorFile.self, from: Data(contentsOf: url)).vectors
}

func keyPair(_ hex: String?) throws -> X25519KeyPair? {
    guard let hex else { return nil }
    return try X25519KeyPair(privateKey: secret(hex: hex))
}

@Test func allNoiseVectorsArePresent() throws {
    #expect(try loadNoiseVectors().count == 110)
}

@Test(arguments: 0..<110)
func noiseVector(index: Int) throws {
    let vector = try loadNoiseVectors()[index]
    let name = try NoiseProtocolName(vector.protocol_name)
    let initiator = try NoiseHandshakeState(
        protocolName: name,
        initiator: true,
        prologue: [UInt8](hex: vector.init_prologue),
        localStatic: keyPair(vector.init_static),
        localEphemeral: keyPair(vector.init_ephemeral),
        remoteStatic: vector.init_remote_static.map { [UInt8](hex: $0) },
        psks: (vector.init_psks ?? []).map { try secret(hex: $0) }
    )
    let responder = try NoiseHandshakeState(
        protocolName: name,
        initiator: false,
        prologue: [UInt8](hex: vector.resp_prologue),
        localStatic: keyPair(vector.resp_static),
        localEphemeral: keyPair(vector.resp_ephemeral),
        remoteStatic: vector.resp_remote_static.map { [UInt8](hex: $0) },
        psks: (vector.resp_psks ?? []).map { try secret(hex: $0) }
    )
    var transport: (initSend: CipherState, initReceive: CipherState, respSend: CipherState, respReceive: CipherState)?
    for (i, message) in vector.messages.enumerated() {
        let payload = [UInt8](hex: message.payload)
        let expected = [UInt8](hex: message.ciphertext)
        let initiatorSends = name.pattern.isOneWay || i % 2 == 0
        if let t = transport {
            let (send, receive) = initiatorSends ? (t.initSend, t.respReceive) : (t.respSend, t.initReceive)
            let ciphertext = try send.encrypt(ad: [], plaintext: payload)
            #expect(ciphertext == expected, "\(vector.protocol_name) transport message \(i)")
            #expect(try receive.decrypt(ad: [], ciphertext: ciphertext) == payload)
        } else {
            let (writer, reader) = initiatorSends ? (initiator, responder) : (responder, initiator)
            let ciphertext = try writer.writeMessage(payload: payload)
            #expect(ciphertext == expected, "\(vector.protocol_name) handshake message \(i)")
            #expect(try reader.readMessage(ciphertext) == payload)
            if initiator.isComplete {
                #expect(responder.isComplete)
                if let hash = vector.handshake_hash {
                    #expect(initiator.handshakeHash == [UInt8](hex: hash))
                    #expect(responder.handshakeHash == [UInt8](hex: hash))
                }
                let (iS, iR) = try initiator.split()
                let (rS, rR) = try responder.split()
                transport = (iS, iR, rS, rR)
            }
        }
    }
    #expect(transport != nil, "\(vector.protocol_name) handshake did not complete")
}
