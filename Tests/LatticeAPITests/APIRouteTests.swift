import Foundation
import LatticeAPI
import Testing

/// The HTTP API driven in-process through the library: a hosted node, the library's server on
/// loopback, real requests. One hosted node per process, so the tests run one at a time.
@Suite(.serialized) struct APIRouteTests {
    @Test func aDocumentPutThenGetRoundTripsAndIsTheCLIsJSON() throws {
        let api = try APITestNode("roundtrip")
        defer { api.stop() }
        let put = api.request("PUT", "/v1/docs/notes/n1", body: #"{"title": "hello", "weight": 0.5, "done": false}"#)
        #expect(put.status == 200)
        #expect(put.headers["content-type"] == "application/json")
        #expect(put.object["ok"] as? Bool == true)
        #expect((put.object["dots"] as? [Any])?.count == 3)  // one per field written

        let get = api.request("GET", "/v1/docs/notes/n1")
        #expect(get.status == 200)
        #expect(get.object["collection"] as? String == "notes")
        #expect(get.object["id"] as? String == "n1")
        let fields = get.object["fields"] as? [String: Any] ?? [:]
        let title = fields["title"] as? [String: Any] ?? [:]
        #expect(title["kind"] as? String == "register")
        #expect(title["value"] as? String == "hello")
        #expect(title["conflict"] as? Bool == false)
        #expect((fields["weight"] as? [String: Any])?["value"] as? Double == 0.5)
        #expect((fields["done"] as? [String: Any])?["value"] as? Bool == false)
        // The API's JSON is the CLI's `get --json`, byte for byte.
        let cli = api.command(["get", "--json", "--", "notes", "n1"])
        #expect(cli.code == 0)
        #expect(get.body == cli.stdout)

        let list = api.request("GET", "/v1/docs/notes")
        #expect(list.status == 200)
        #expect(list.body.trimmingCharacters(in: .newlines) == #"["n1"]"#)
    }

    @Test func aPostCreatesADocumentWithAFreshID() throws {
        let api = try APITestNode("post")
        defer { api.stop() }
        let created = api.request("POST", "/v1/docs/notes", body: #"{"title": "new"}"#)
        #expect(created.status == 201)
        let id = try #require(created.object["id"] as? String)
        #expect(id.count == 20 && id.allSatisfy(\.isHexDigit))
        #expect(created.headers["location"] == "/v1/docs/notes/\(id)")
        #expect(created.object["ok"] as? Bool == true)
        let get = api.request("GET", "/v1/docs/notes/\(id)")
        #expect(get.status == 200)
        #expect(((get.object["fields"] as? [String: Any])?["title"] as? [String: Any])?["value"] as? String == "new")
    }

    @Test func badBodiesAreAnswered400WithTheirReason() throws {
        let api = try APITestNode("bad")
        defer { api.stop() }
        let notJSON = api.request("PUT", "/v1/docs/notes/n1", body: #"{"title": "#)
        #expect(notJSON.status == 400)
        #expect(notJSON.object["error"] as? String == "bad_request")
        #expect(notJSON.object["message"] as? String == "the body is not valid JSON")

        let nested = api.request("PUT", "/v1/docs/notes/n1", body: #"{"title": {"a": 1}}"#)
        #expect(nested.status == 400)
        #expect((nested.object["message"] as? String)?.hasPrefix("field \"title\": a register holds a string, number, boolean or null") == true)

        let fraction = api.request("POST", "/v1/docs/notes/n1/used/increment", body: #"{"by": 2.5}"#)
        #expect(fraction.status == 400)
        #expect(fraction.object["message"] as? String == "\"by\" must be a whole number from -9223372036854775808 to 9223372036854775807")

        let cursor = api.request("GET", "/v1/changes?since=abc")
        #expect(cursor.status == 400)
        // Nothing was written by any of them.
        #expect(api.request("GET", "/v1/docs/notes/n1").status == 404)
    }

    @Test func requestsWithoutTheTokenAreAnswered401() throws {
        let api = try APITestNode("auth")
        defer { api.stop() }
        let missing = api.request("GET", "/v1/docs/notes/n1", token: "")
        #expect(missing.status == 401)
        #expect(missing.object["error"] as? String == "unauthorized")
        let wrong = api.request("PUT", "/v1/docs/notes/n1", body: #"{"title": "x"}"#, token: String(repeating: "cd", count: 32))
        #expect(wrong.status == 401)
        #expect(api.request("GET", "/v1/docs/notes/n1").status == 404)  // the refused PUT wrote nothing
        // The status page's HTML holds no data and is served without the token.
        let page = api.request("GET", "/", token: "")
        #expect(page.status == 200)
        #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
    }

    @Test func unknownPathsAndMethodsAreNamed() throws {
        let api = try APITestNode("paths")
        defer { api.stop() }
        let absent = api.request("GET", "/v1/docs/notes/nothing")
        #expect(absent.status == 404)
        #expect(absent.object["error"] as? String == "not_found")
        #expect(absent.object["message"] as? String == "notes/nothing does not exist; list documents with `lattice ls notes`")

        let endpoint = api.request("GET", "/v2/whatever")
        #expect(endpoint.status == 404)
        #expect(endpoint.object["message"] as? String == "no such endpoint: /v2/whatever (see Docs/API.md)")

        let method = api.request("DELETE", "/v1/docs/notes")
        #expect(method.status == 405)
        #expect(method.object["error"] as? String == "method_not_allowed")
        #expect(method.headers["allow"] == "GET, POST, HEAD")
    }

    @Test func textSplicesCheckTheVersionTheClientRead() throws {
        let api = try APITestNode("splices")
        defer { api.stop() }
        let first = api.request("POST", "/v1/docs/notes/n1/body/splices", body: #"{"version": "new", "splices": [{"position": 0, "insert": "hello world"}]}"#)
        #expect(first.status == 200)
        #expect(first.object["value"] as? String == "hello world")
        let version = try #require(first.object["version"] as? String)

        let next = api.request(
            "POST", "/v1/docs/notes/n1/body/splices", body: #"{"version": "\#(version)", "splices": [{"position": 0, "delete": 1, "insert": "H"}]}"#)
        #expect(next.status == 200)
        #expect(next.object["value"] as? String == "Hello world")

        let stale = api.request("POST", "/v1/docs/notes/n1/body/splices", body: #"{"version": "\#(version)", "splices": [{"position": 0, "insert": "x"}]}"#)
        #expect(stale.status == 409)
        #expect(stale.object["error"] as? String == "version_mismatch")

        let past = api.request(
            "POST", "/v1/docs/notes/n1/body/splices",
            body: #"{"version": "\#(next.object["version"] as? String ?? "")", "splices": [{"position": 99, "insert": "z"}]}"#)
        #expect(past.status == 422)
        #expect(past.object["error"] as? String == "position_out_of_range")
        #expect((((api.request("GET", "/v1/docs/notes/n1").object["fields"] as? [String: Any])?["body"]) as? [String: Any])?["value"] as? String == "Hello world")
    }
}
