/// A response line: `{"id":…, "ok":true, …result}` or
/// `{"id":…, "ok":false, "error":{"code":…, "message":…}}`.
public struct Response: Sendable, Equatable {
    public var id: RequestID?
    public var result: Result<[String: JSONValue], WireError>

    public init(id: RequestID?, result: Result<[String: JSONValue], WireError>) {
        self.id = id
        self.result = result
    }

    public static func success(_ id: RequestID?, _ fields: [String: JSONValue]) -> Response {
        Response(id: id, result: .success(fields))
    }

    public static func failure(_ id: RequestID?, _ error: WireError) -> Response {
        Response(id: id, result: .failure(error))
    }

    /// The line to send, without its newline.
    public var encoded: String {
        var fields: [String: JSONValue]
        switch result {
        case .success(let result):
            fields = result
            fields["ok"] = true
        case .failure(let error):
            var body: [String: JSONValue] = ["code": .string(error.code.rawValue), "message": .string(error.message)]
            if let retryAfter = error.retryAfter { body["retry_after"] = .number(Double(retryAfter)) }
            fields = ["ok": false, "error": .object(body)]
        }
        guard let id else { return JSONValue.object(fields).encoded }
        return Self.encode(fields, id: id)
    }

    /// An object with sorted keys whose `"id"` is written as its literal text.
    static func encode(_ fields: [String: JSONValue], id: RequestID) -> String {
        var keys = Array(fields.keys.filter { $0 != "id" })
        keys.append("id")
        let members = keys.sorted().map { key in
            JSONValue.string(key).encoded + ":" + (key == "id" ? id.text : fields[key]!.encoded)
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    /// Parses a response line (for clients).
    public init(parsing line: some Collection<UInt8>) throws(WireError) {
        let value: JSONValue
        let idNumberText: String?
        do { (value, idNumberText) = try JSONValue.parseKeepingID(line) } catch { throw WireError(.internal, "daemon sent invalid JSON: \(error)") }
        guard case .object(var fields) = value, case .bool(let ok)? = fields.removeValue(forKey: "ok") else {
            throw WireError(.internal, "daemon sent a response without \"ok\"")
        }
        switch fields.removeValue(forKey: "id") {
        case .string(let s)?: id = .string(s)
        case .number?: id = idNumberText.map(RequestID.number)
        default: id = nil
        }
        if ok {
            result = .success(fields)
        } else {
            guard case .object(let error)? = fields["error"], case .string(let code)? = error["code"] else {
                throw WireError(.internal, "daemon sent an error without a code")
            }
            let message: String
            if case .string(let m)? = error["message"] { message = m } else { message = "" }
            var retryAfter: Int?
            if case .number(let n)? = error["retry_after"] { retryAfter = Int(n) }
            result = .failure(WireError(ErrorCode(rawValue: code) ?? .internal, message, retryAfter: retryAfter))
        }
    }
}
