import Foundation
import Glibc
import LatticeAPI
import LatticeCRDT
import LatticeNode
import LatticeStore
import Testing

/// Retention through the CLI's command code and the API (in the serialized API suite).
extension APIRouteTests {
    func expiredIDs(_ body: String, _ collection: String = "memories") -> [String] {
        let plans = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? []
        return plans.first { $0["collection"] as? String == collection }?["expired"] as? [String] ?? []
    }

    @Test func retentionListsWhatWouldGoErasesOnApplyAndWantsYesToEraseEverything() throws {
        let api = try APITestNode("retention")
        defer { api.stop() }
        for (id, importance) in [("m1", "0.1"), ("m2", "0.9"), ("m3", "0.2"), ("m4", "0.5")] {
            #expect(api.command(["put", "--", "memories", id, "note=memory \(id)", "importance:=\(importance)"]).code == 0)
        }
        #expect(api.command(["put", "--", "memories", "m5", "note=no importance"]).code == 0)
        #expect(api.request("GET", "/v1/retention").body.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        let rule = #"{"memories": {"max_age": "1ms", "where": "importance<0.3"}}"#
        let set = api.command(["config", "set", "retention", rule])
        #expect(set.code == 0, "\(set.stderr)")
        usleep(20_000)

        // The dry run: what would go, and nothing goes.
        let before = api.node.store.state
        let list = api.request("GET", "/v1/retention")
        #expect(list.status == 200, "\(list.body)")
        #expect(expiredIDs(list.body) == ["m1", "m3"])
        let text = api.command(["retention"])
        #expect(text.code == 0 && text.stdout.contains("memories: 2 of 5 documents would be erased (older than 1ms, importance<0.3)"), "\(text)")
        #expect(api.node.store.state == before)

        #expect(api.request("POST", "/v1/retention/apply", body: #"{"collection": "nope"}"#).status == 404)
        #expect(api.request("POST", "/v1/retention/apply", body: #"{"yes": "please"}"#).status == 400)
        #expect(api.request("GET", "/v1/retention/apply").status == 405)
        #expect(api.node.store.state == before)

        let applied = api.request("POST", "/v1/retention/apply")
        #expect(applied.status == 200, "\(applied.body)")
        #expect(applied.object["erased"] as? Int == 2)
        #expect(api.request("GET", "/v1/docs/memories/m1").status == 404)
        #expect(api.request("GET", "/v1/docs/memories/m3").status == 404)
        #expect(ids(api.request("GET", "/v1/docs/memories").body) == ["m2", "m4", "m5"])
        #expect(api.node.store.state.erasures.count == 2, "retention erases as forget does")

        // A rule that matches every document that has the field is still refused without yes.
        #expect(api.command(["config", "set", "retention", #"{"memories": {"where": ["importance>0.4", "importance<1"]}}"#]).code == 0)
        #expect(api.command(["put", "--", "memories", "m5", "importance:=0.95"]).code == 0)
        let kept = api.node.store.state
        let refused = api.request("POST", "/v1/retention/apply")
        #expect(refused.status == 409, "\(refused.body)")
        #expect(refused.object["error"] as? String == "confirmation_required", "\(refused.body)")
        #expect(api.command(["retention", "apply"]).code == ExitCode.usage.rawValue)
        #expect(api.node.store.state == kept, "nothing erased by accident")
        // A running node skips it too, with a warning.
        #expect(try applyRetention(api) == 0)
        #expect(api.node.store.state == kept)
        let yes = api.request("POST", "/v1/retention/apply", body: #"{"yes": true}"#)
        #expect(yes.status == 200 && yes.object["erased"] as? Int == 3, "\(yes.body)")
        #expect(ids(api.request("GET", "/v1/docs/memories").body) == [])
    }

    @Test func aRunningNodeAppliesItsRulesAndSkipsOnlyTheOneThatWouldEraseAll() throws {
        let api = try APITestNode("retention-auto")
        defer { api.stop() }
        #expect(api.command(["put", "--", "memories", "a", "importance:=0.1"]).code == 0)
        #expect(api.command(["put", "--", "memories", "b", "importance:=0.7"]).code == 0)
        #expect(api.command(["put", "--", "notes", "n", "stale:=true"]).code == 0)
        let rules = #"{"memories": {"max_age": "1ms", "where": "importance<0.3"}, "notes": {"max_age": "1ms"}}"#
        #expect(api.command(["config", "set", "retention", rules]).code == 0)
        usleep(20_000)
        #expect(try applyRetention(api) == 1)
        #expect(api.node.store.state.document("memories", "a") == nil)
        #expect(api.node.store.state.document("memories", "b") != nil)
        #expect(api.node.store.state.document("notes", "n") != nil, "the rule erasing all of notes was skipped")
    }

    @Test(arguments: [
        (#"{"memories": {"max_age": "30 days"}}"#, "max_age of 'memories'"), (#"{"memories": {"where": "importance<<0.3"}}"#, "malformed condition"),
        (#"{"memories": {}}"#, "the rule for 'memories' is empty"), (#"{"memories": {"max_age": "1d", "keep": true}}"#, "unknown key 'keep'"),
        (#"{"~erasures": {"max_age": "1d"}}"#, "'~erasures' is reserved"), (#"{"memories": {"max_age": 0}}"#, "max_age of 'memories'"),
        (#"{"memories": {"where": []}}"#, "where of 'memories'"), (#"["memories"]"#, "not a JSON object"),
    ])
    func aBadRetentionRuleIsRefusedWithTheKeyNamed(_ rule: String, _ why: String) throws {
        let api = try APITestNode("retention-bad")
        defer { api.stop() }
        let set = api.command(["config", "set", "retention", rule])
        #expect(set.code != 0, "\(rule) was accepted")
        #expect(set.stderr.contains("retention"), "\(set.stderr)")
        #expect(set.stderr.contains(why), "\(rule): \(set.stderr)")
        #expect(api.command(["config", "set", "retention_interval", "10ms"]).code != 0)
        #expect(api.command(["retention", "sideways"]).code == ExitCode.usage.rawValue)
        #expect(api.command(["retention"]).stdout.contains("no retention rules"))
    }

    @Test func aRunningNodeShowsRetentionAsItRunsWithIt() throws {
        let api = try APITestNode("retention-live")
        defer { api.stop() }
        let root = api.directory
        onLoop(api) { Hosting.config = try? NodeConfig.load(NodePaths(root: root)) }  // as `lattice run` hosts it
        #expect(api.command(["config", "set", "retention", #"{"memories": {"max_age": "30d"}}"#]).code == 0)
        #expect(api.command(["config", "set", "retention_interval", "\"10m\""]).code == 0)
        let shown = api.command(["config", "--json"]).stdout
        let object = (try? JSONSerialization.jsonObject(with: Data(shown.utf8))) as? [String: [String: Any]] ?? [:]
        #expect(object["retention_interval"]?["source"] as? String == "file", "\(shown)")
        let rules = object["retention"]?["value"] as? [String: Any]
        #expect(rules?["memories"] != nil, "\(shown)")
        // Human output: every key whole, however long (retention_interval was cut to 15 columns).
        #expect(api.command(["config"]).stdout.contains("retention_interval "))
    }

    /// `applyAutomatically` on the node's loop thread, as the node's schedule runs it.
    func applyRetention(_ api: APITestNode) throws -> Int {
        let config = try NodeConfig.load(NodePaths(root: api.directory))
        var erased = -1
        onLoop(api) { erased = RetentionCommand.applyAutomatically(api.node, config) }
        return erased
    }
}
