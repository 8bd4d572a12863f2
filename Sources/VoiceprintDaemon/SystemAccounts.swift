import Foundation

/// User and group look-ups through NSS with the reentrant calls (getpwuid_r,
/// getgrnam_r), so any worker thread may make them: the plain getpwuid and
/// getgrnam return static buffers that two threads would overwrite.
enum SystemAccounts {
    /// The login name of `uid`, when it has one.
    static func userName(of uid: UInt32) -> String? {
        withBuffer(Int32(_SC_GETPW_R_SIZE_MAX)) { buffer in
            var entry = passwd(), result: UnsafeMutablePointer<passwd>?
            let status = getpwuid_r(uid, &entry, buffer.baseAddress!, buffer.count, &result)
            guard status != ERANGE else { return .retry }
            guard status == 0, result != nil, let name = entry.pw_name else { return .done(nil) }
            return .done(String(cString: name))
        }
    }

    /// A group's id and the login names of its supplementary members.
    static func group(named name: String) -> (gid: UInt32, members: [String])? {
        withBuffer(Int32(_SC_GETGR_R_SIZE_MAX)) { buffer in
            var entry = Glibc.group(), result: UnsafeMutablePointer<Glibc.group>?
            let status = getgrnam_r(name, &entry, buffer.baseAddress!, buffer.count, &result)
            guard status != ERANGE else { return .retry }
            guard status == 0, result != nil else { return .done(nil) }
            var members = [String]()
            if var member = entry.gr_mem {
                while let name = member.pointee {
                    members.append(String(cString: name))
                    member += 1
                }
            }
            return .done((entry.gr_gid, members))
        }
    }

    private enum Attempt<T> { case done(T), retry }

    /// Calls `body` with a scratch buffer, doubling it while NSS answers ERANGE (a
    /// group with thousands of members outgrows the suggested size); at most 1 MiB.
    private static func withBuffer<T>(_ sizeHint: Int32, _ body: (UnsafeMutableBufferPointer<CChar>) -> Attempt<T?>) -> T? {
        var size = max(Int(sysconf(sizeHint)), 1024)
        while size <= 1 << 20 {
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            switch body(buffer) {
            case .done(let value): return value
            case .retry: size *= 2
            }
        }
        return nil
    }
}
