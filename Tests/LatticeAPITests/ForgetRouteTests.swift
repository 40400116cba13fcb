import Foundation
import LatticeAPI
import LatticeCRDT
import LatticeNode
import LatticeStore
import Testing

/// `forget` through the API and the CLI's command code (in the serialized API suite).
extension APIRouteTests {
    /// Every file under `directory` that holds `needle`, by path.
    func filesHolding(_ needle: String, under directory: String) -> [String] {
        let bytes = Array(needle.utf8)
        var hits: [String] = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        while let relative = walker.nextObject() as? String {
            let path = directory + "/" + relative
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            if [UInt8](data).firstRange(of: bytes) != nil { hits.append(relative) }
        }
        return hits
    }

    func object(_ body: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }

    @Test func forgettingADocumentOverTheAPIPurgesItsBytesAndKeepsTheRest() throws {
        let api = try APITestNode("forget")
        defer { api.stop() }
        #expect(api.command(["put", "--", "memories", "m1", "note=the-patient-secret-4711", "importance:=0.2"]).code == 0)
        #expect(api.command(["put", "--", "memories", "m2", "note=a harmless note"]).code == 0)
        #expect(api.command(["put", "--", "memories", "m2", "mood=the-mood-secret-0815"]).code == 0)
        #expect(api.command(["compact"]).code == 0)  // the secret is in a snapshot too
        #expect(api.command(["put", "--", "memories", "m1", "note=the-patient-secret-4711-edited"]).code == 0)
        #expect(!filesHolding("patient-secret-4711", under: api.directory).isEmpty)

        let forgot = api.request("POST", "/v1/docs/memories/m1/forget")
        #expect(forgot.status == 200, "\(forgot.body)")
        #expect(object(forgot.body)["ok"] as? Bool == true)
        #expect((object(forgot.body)["purged_records"] as? Int ?? 0) >= 1)
        #expect(filesHolding("patient-secret-4711", under: api.directory) == [])
        #expect(api.request("GET", "/v1/docs/memories/m1").status == 404)
        #expect(ids(api.request("GET", "/v1/docs/memories").body) == ["m2"])

        // One field of another document; the rest of it stays.
        let field = api.request("POST", "/v1/docs/memories/m2/mood/forget")
        #expect(field.status == 200, "\(field.body)")
        #expect(filesHolding("mood-secret-0815", under: api.directory) == [])
        let m2 = object(api.request("GET", "/v1/docs/memories/m2").body)
        #expect(((m2["fields"] as? [String: Any])?["note"] as? [String: Any])?["value"] as? String == "a harmless note")
        #expect((m2["fields"] as? [String: Any])?["mood"] == nil)

        // History says who erased and when, and what was purged, never the content.
        let history = api.request("GET", "/v1/docs/memories/m1/history")
        #expect(history.status == 200)
        let entries = (try? JSONSerialization.jsonObject(with: Data(history.body.utf8))) as? [[String: Any]] ?? []
        #expect(entries.last?["kind"] as? String == "erase")
        #expect(entries.last?["fields"] as? [String] == ["*"])
        #expect(entries.last?["time"] is String)
        #expect(entries.dropLast().allSatisfy { $0["kind"] as? String == "erased" }, "\(entries)")
        #expect(!history.body.contains("secret"))

        // Export lists the erases and no content; the conflicts list stays the user's.
        let export = api.request("GET", "/v1/export")
        #expect(export.status == 200)
        #expect(!export.body.contains("secret"))
        let erased = export.body.split(separator: "\n").compactMap { object(String($0))["erased"] as? [String: Any] }
        #expect(erased.count == 2)
        #expect(erased.contains { $0["id"] as? String == "m1" && $0["field"] is NSNull })
        #expect(erased.contains { $0["id"] as? String == "m2" && $0["field"] as? String == "mood" })
        #expect(api.command(["status", "--json"]).stdout.contains("\"erasures\": 2"))

        // Forgotten already: nothing to do, and it says so.
        let again = api.request("POST", "/v1/docs/memories/m1/forget")
        #expect(again.status == 200 && object(again.body)["already"] as? Bool == true)

        // Nothing of the first secret anywhere, edited or not.
        #expect(filesHolding("secret-4711", under: api.directory) == [])
    }

    @Test(arguments: [
        ("/v1/docs/memories/nope/forget", 404), ("/v1/docs/unknown/m1/forget", 404), ("/v1/docs/memories/m1/nofield/forget", 404),
        ("/v1/docs/~erasures/x/forget", 400),
    ])
    func forgettingWhatIsNotThereAnswersANamedErrorAndErasesNothing(_ target: String, _ status: Int) throws {
        let api = try APITestNode("forget-bad")
        defer { api.stop() }
        #expect(api.command(["put", "--", "memories", "m1", "note=kept"]).code == 0)
        let before = api.node.store.state
        let answer = api.request("POST", target)
        #expect(answer.status == status, "\(answer.body)")
        #expect(answer.body.contains("\"error\""))
        #expect(api.node.store.state == before)
        #expect(api.request("GET", "/v1/docs/memories/m1/forget").status == 405)
    }
}
