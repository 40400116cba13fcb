import Foundation

/// Percent-coding of the API's paths and queries.
extension APIRoutes {
    /// `s` as one path segment (`/`, `?` and `#` escaped too).
    package static func percentEncoded(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? s
    }

    /// `%XX` decoding of one path segment; nil for a malformed escape or invalid UTF-8.
    package static func percentDecoded(_ segment: Substring) -> String? {
        guard segment.contains("%") else { return String(segment) }
        return segment.removingPercentEncoding
    }

    /// The query's `name=value` pairs (percent-decoded; `+` is a space); the last one wins.
    package static func queryItems(_ target: String) -> [String: String] {
        guard let q = target.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let k = decode(kv[0]), let v = kv.count > 1 ? decode(kv[1]) : "" else { continue }
            out[k] = v
        }
        return out
    }
}
