import Foundation
import Testing
import VoiceprintDaemon
import VoiceprintProtocol

@Suite struct PolicyTests {
    let audio = AudioSource.data([1, 2, 3])
    /// uid 1 is "daemon" on Debian; 4242 has no account.
    let stranger = Peer(pid: 10, uid: 4242, gid: 4242)

    func policy(_ adjust: (inout Configuration) -> Void = { _ in }) -> Policy {
        var configuration = Configuration()
        adjust(&configuration)
        return Policy(configuration: configuration)
    }

    @Test func anyoneMayHelloStatusAndVerify() {
        let p = policy()
        for request in [Request.hello, .status, .verify(speaker: "alice", audio: audio, threshold: nil)] {
            #expect(p.check(request, from: stranger) == nil)
        }
    }

    @Test func aSecurityLevelInVerifyIsForAdminsOnly() {
        let p = policy()
        let request = Request.verify(speaker: "alice", audio: audio, threshold: nil, securityLevel: "low")
        let refusal = p.check(request, from: stranger)
        #expect(refusal?.code == .forbidden && refusal?.message.contains("security_level (low)") == true, "\(String(describing: refusal))")
        #expect(p.check(request, from: Peer(pid: 1, uid: 0, gid: 0)) == nil, "root may choose the level")
    }

    @Test func adminOperationsAreForbiddenToOthers() {
        let p = policy()
        for request in [Request.enroll(speaker: "alice", audio: audio), .delete(speaker: "alice"), .list,
                        .identify(audio: audio, top: nil), .embed(audio: audio)] {
            #expect(p.check(request, from: stranger)?.code == .forbidden, "\(request.operation)")
        }
        #expect(p.check(.list, from: Peer(pid: 1, uid: 0, gid: 0)) == nil, "root is an admin")
        #expect(p.check(.list, from: Peer(pid: 1, uid: geteuid(), gid: 0)) == nil, "the daemon's own user is an admin")
    }

    @Test func adminGroupMembersAreAdmins() {
        let p = policy { $0.adminGroup = "daemon" }
        let member = Peer(pid: 5, uid: 4242, gid: UInt32(getgrnam("daemon")!.pointee.gr_gid))
        #expect(p.check(.list, from: member) == nil)
        #expect(p.check(.list, from: stranger)?.message.contains("group daemon") == true)
    }

    @Test func selfServiceCoversOnlyTheCallersOwnName() {
        let p = policy { $0.selfService = true }
        let daemonUser = Peer(pid: 5, uid: 1, gid: 1)
        #expect(daemonUser.userName == "daemon")
        #expect(p.check(.enroll(speaker: "daemon", audio: audio), from: daemonUser) == nil)
        #expect(p.check(.delete(speaker: "daemon"), from: daemonUser) == nil)
        #expect(p.check(.enroll(speaker: "alice", audio: audio), from: daemonUser)?.code == .forbidden)
        #expect(policy().check(.enroll(speaker: "daemon", audio: audio), from: daemonUser)?.code == .forbidden)
    }

    @Test func audioByPathIsForAdminsOnly() {
        let path = Request.verify(speaker: "alice", audio: .path("/etc/shadow"), threshold: nil)
        #expect(policy().check(path, from: stranger)?.code == .forbidden)
        #expect(policy().check(path, from: Peer(pid: 1, uid: 0, gid: 0)) == nil)
        #expect(policy { $0.allowPaths = "none" }.check(path, from: Peer(pid: 1, uid: 0, gid: 0))?.code == .forbidden)
    }

    /// The reentrant NSS look-ups agree with the plain ones, from many threads at once
    /// (the plain ones share static buffers, which is why they never ran on workers).
    @Test func supplementaryMembershipIsFoundFromAnyThread() throws {
        let groupName = try #require(getgrgid(0).map { String(cString: $0.pointee.gr_name) })
        let names = (0..<64).map { uid in getpwuid(UInt32(uid)).map { String(cString: $0.pointee.pw_name) } }
        // A group that lists a supplementary member, if the system has one, else root's own.
        let p = policy { $0.adminGroup = groupName }
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for uid in 0..<64 {
                let peer = p.resolve(Peer(pid: 1, uid: UInt32(uid), gid: 65534))
                #expect(peer.resolvedName == names[uid], "uid \(uid)")
            }
        }
        #expect(p.resolve(Peer(pid: 1, uid: 4_000_000_000, gid: 65534)).resolvedName == nil)
        #expect(p.resolve(Peer(pid: 1, uid: 4242, gid: 0)).resolvedAdmin == true, "primary group \(groupName)")
        #expect(policy { $0.adminGroup = "no-such-group-here" }.resolve(stranger).resolvedAdmin == false)
    }
}
