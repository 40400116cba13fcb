import LatticeCrypto
import Testing

@Test func sodiumInitialises() {
    #expect(Sodium.initialize())
    #expect(Sodium.versionString.split(separator: ".").count == 3)
}
