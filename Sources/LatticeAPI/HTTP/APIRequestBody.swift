package import Foundation

/// What a write's JSON body stands for: the command arguments the route adds to its own.
extension APIRoutes {
    /// A JSON number as Int64 when it is a whole number in range (integers exactly, as parsed;
    /// fractions and booleans refused).
    package static func wholeNumber(_ number: NSNumber) -> Int64? {
        switch String(cString: number.objCType) {
        case "c": return nil  // a boolean
        case "d", "f": return Int64(exactly: number.doubleValue)
        case "Q", "L": return number.uint64Value <= UInt64(Int64.max) ? Int64(number.uint64Value) : nil
        default: return number.int64Value
        }
    }

    /// The arguments a body stands for, or why it cannot stand for any (a 400).
    package enum BodyResult {
        /// Positionals, then options, that the body stands for.
        case success([String], [String])
        case failure(String)

        package static func success(_ positionals: [String]) -> BodyResult { .success(positionals, []) }
    }

    /// The CLI arguments a write's JSON body stands for: `PUT` a document = `{"field": scalar, …}`
    /// (`field:=JSON` each); `add`/`remove` = `[scalar, …]`; `increment` = `{"by": N}` (default
    /// 1); `resolve` = `{"value": scalar}`; `isolation` = `{"isolated": bool}`; `invite` =
    /// `{"addresses": ["HOST:PORT", …]}` (optional); `join`/`keys install` = `{"invite": TEXT}`;
    /// `keys revoke` = `{"node_id": ID}`; `retention/apply` = `{"yes": bool, "collection": C}`
    /// (optional); `keys use|remove` = `{"fingerprint": FP}`.
    package static func bodyArguments(command: String, action: String, _ body: [UInt8]) -> BodyResult {
        let object: Any
        if body.isEmpty && (action == "increment" || action == "invite" || action == "retention-apply") {
            object = [String: Any]()
        } else {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
                return .failure("the body is not valid JSON")
            }
            object = parsed
        }
        func scalar(_ v: Any) -> String? {
            if v is [Any] || v is [String: Any] { return nil }
            return (try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) }
        }
        func string(_ key: String) -> BodyResult {
            guard let o = object as? [String: Any], let v = o[key] as? String, !v.isEmpty else {
                return .failure("this endpoint takes {\"\(key)\": \"…\"}")
            }
            return .success([v])
        }
        switch action {
        case "isolation":
            guard let o = object as? [String: Any], let n = o["isolated"] as? NSNumber, isJSONBoolean(n) else {
                return .failure("PUT /v1/isolation takes {\"isolated\": true} or {\"isolated\": false}")
            }
            return .success([n.boolValue ? "on" : "off"])
        case "invite":
            guard let o = object as? [String: Any] else { return .failure("invite takes {\"addresses\": [\"HOST:PORT\", …]} (optional)") }
            guard let list = (o["addresses"] ?? [String]()) as? [String] else { return .failure("addresses must be a list of \"HOST:PORT\" strings") }
            return .success([], list.flatMap { ["--address", $0] })
        case "retention-apply":
            guard let o = object as? [String: Any], Set(o.keys).isSubset(of: ["yes", "collection"]) else {
                return .failure("retention apply takes {\"yes\": true, \"collection\": \"C\"} (both optional)")
            }
            var flags: [String] = []
            if let y = o["yes"] {
                guard let n = y as? NSNumber, isJSONBoolean(n) else { return .failure("\"yes\" must be true or false") }
                if n.boolValue { flags.append("--yes") }
            }
            if let c = o["collection"] {
                guard let name = c as? String, !name.isEmpty else { return .failure("\"collection\" must be a collection name") }
                flags += ["--collection", name]
            }
            return .success([], flags)
        case "config-set":
            // The body is the key's new value as JSON; `config set` validates it.
            guard let json = try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed]) else {
                return .failure("the body must be the key's value as JSON")
            }
            return .success([String(decoding: json, as: UTF8.self)])
        case "join", "keys-install": return string("invite")
        case "keys-revoke": return string("node_id")
        case "keys-use", "keys-remove": return string("fingerprint")
        case "":
            guard let fields = object as? [String: Any], !fields.isEmpty else {
                return .failure("PUT takes a JSON object of fields, for example {\"title\": \"x\", \"confidence\": 0.8}")
            }
            var out: [String] = []
            for name in fields.keys.sorted() {
                guard !name.isEmpty, !name.contains("="), !name.contains(":"), let json = fields[name].flatMap(scalar) else {
                    return .failure("field \"\(name)\": a register holds a string, number, boolean or null (no '=' or ':' in names; sets: POST …/FIELD/add)")
                }
                out.append("\(name):=\(json)")
            }
            return .success(out)
        case "add", "remove":
            guard let list = object as? [Any], !list.isEmpty else { return .failure("\(action) takes a JSON array of elements, for example [\"swift\"]") }
            var out: [String] = []
            for v in list {
                guard let json = scalar(v) else { return .failure("set elements are strings, numbers, booleans or null") }
                out.append(":=" + json)
            }
            return .success(out)
        case "splices":
            guard let o = object as? [String: Any], let version = o["version"] as? String, let list = o["splices"] as? [Any],
                let data = try? JSONSerialization.data(withJSONObject: list), let text = String(data: data, encoding: .utf8)
            else {
                return .failure("splices takes {\"version\": V, \"splices\": [{\"position\": P, \"delete\": N, \"insert\": \"T\"}, …]}")
            }
            return .success([version, text])
        case "increment":
            guard let o = object as? [String: Any] else { return .failure("increment takes {\"by\": N}") }
            guard let by = o["by"] ?? Optional(1), let number = by as? NSNumber, let n = wholeNumber(number) else {
                return .failure("\"by\" must be a whole number from -9223372036854775808 to 9223372036854775807")
            }
            return .success([String(n)])
        default:  // resolve
            guard let o = object as? [String: Any], let v = o["value"], let json = scalar(v) else {
                return .failure("resolve takes {\"value\": scalar}")
            }
            return .success([":=" + json])
        }
    }
}
