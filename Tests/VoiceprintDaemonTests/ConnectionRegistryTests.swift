import Testing
@testable import VoiceprintDaemon

struct ConnectionRegistryTests {
    @Test func admitsUnderBothLimitsAndSaysWhichOneRefused() {
        let registry = ConnectionRegistry(maximum: 3, maximumPerUID: 2)
        #expect(registry.admit(uid: 1000) == nil)
        #expect(registry.admit(uid: 1000) == nil)
        #expect(registry.admit(uid: 1000)?.contains("uid 1000 already holds 2 connections") == true)
        #expect(registry.admit(uid: 0) == nil)
        #expect(registry.admit(uid: 5)?.contains("max_connections = 3") == true)
        #expect(registry.count == 3)
        registry.release(uid: 1000)
        #expect(registry.admit(uid: 5) == nil)
        #expect(registry.count == 3)
    }
}
