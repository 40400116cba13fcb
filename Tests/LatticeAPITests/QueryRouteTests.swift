import Foundation
import LatticeAPI
import LatticeCRDT
import LatticeNode
import LatticeStore
import Testing

/// Queries through the API and the CLI's command code (in the serialized API suite: one hosted
/// node per process).
extension APIRouteTests {
    /// Five memories: topic, importance, tags.
    func memories(_ api: APITestNode) {
        let rows: [(String, String, String, [String])] = [
            ("m1", "cats", "0.9", ["home", "pets"]), ("m2", "cats", "0.2", ["pets"]), ("m3", "dogs", "0.7", ["walks"]),
            ("m4", "cats", "0.6", []), ("m5", "owls", "1", ["night", "pets"]),
        ]
        for (id, topic, importance, tags) in rows {
            #expect(api.command(["put", "--", "memories", id, "topic=\(topic)", "importance:=\(importance)"]).code == 0)
            if !tags.isEmpty { #expect(api.command(["set", "--", "add", "memories", id, "tags"] + tags).code == 0) }
        }
    }

    func ids(_ body: String) -> [String] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String] ?? [] }

    @Test func queriesAreAnsweredOnTheAPIAsLsAnswersThem() throws {
        let api = try APITestNode("query")
        defer { api.stop() }
        memories(api)
        let both = api.request("GET", "/v1/docs/memories?where=topic%3Dcats&where=importance%3E0.5")
        #expect(both.status == 200)
        #expect(ids(both.body) == ["m1", "m4"])
        let cli = api.command(["ls", "--json", "--where", "topic=cats", "--where", "importance>0.5", "--", "memories"])
        #expect(cli.code == 0 && cli.stdout == both.body)

        let ordered = api.request("GET", "/v1/docs/memories?order=importance&desc=1&limit=3")
        #expect(ids(ordered.body) == ["m5", "m1", "m3"])
        #expect(ids(api.request("GET", "/v1/docs/memories?order=importance").body) == ["m2", "m4", "m3", "m1", "m5"])
        // The set condition in both spellings (∈ percent-encoded, as a URL carries it).
        #expect(ids(api.request("GET", "/v1/docs/memories?where=tags~home,night").body) == ["m1", "m5"])
        #expect(ids(api.request("GET", "/v1/docs/memories?where=tags%E2%88%88pets&where=importance%3C%3D0.9").body) == ["m1", "m2"])
        // An integer bound matches doubles and integers alike; equality is numeric.
        #expect(ids(api.request("GET", "/v1/docs/memories?where=importance%3E%3D1").body) == ["m5"])
        #expect(ids(api.request("GET", "/v1/docs/memories?where=importance:%3D1.0").body) == ["m5"])

        let docs = api.request("GET", "/v1/docs/memories?where=topic%3Ddogs&docs=1")
        let list = (try? JSONSerialization.jsonObject(with: Data(docs.body.utf8))) as? [[String: Any]] ?? []
        #expect(list.count == 1 && list.first?["id"] as? String == "m3")
        #expect(((list.first?["fields"] as? [String: Any])?["topic"] as? [String: Any])?["value"] as? String == "dogs")

        // Upkeep: a change is seen by the next query at once.
        #expect(api.command(["put", "--", "memories", "m3", "topic=cats"]).code == 0)
        #expect(ids(api.request("GET", "/v1/docs/memories?where=topic%3Dcats").body) == ["m1", "m2", "m3", "m4"])
        #expect(api.command(["rm", "--", "memories", "m1"]).code == 0)
        #expect(ids(api.request("GET", "/v1/docs/memories?where=topic%3Dcats").body) == ["m2", "m3", "m4"])
        #expect(ids(api.request("GET", "/v1/docs/memories").body) == ["m2", "m3", "m4", "m5"])
        #expect(api.node.store.indexes.indexedFields == ["memories.importance", "memories.tags", "memories.topic"])
    }

    @Test(arguments: [
        ("importance%3E%3E3", "bad_condition"), ("%3E3", "bad_condition"), ("x%3D", "bad_condition"), ("importance", "bad_condition"),
        ("importance%3Ehigh", "bad_bound"), ("importance%3C", "bad_condition"), ("tags~a,,b", "bad_condition"),
        ("mood%3Dhappy", "unknown_field"),
    ])
    func badConditionsAreAnswered400WithANamedCode(condition: String, code: String) throws {
        let api = try APITestNode("badquery")
        defer { api.stop() }
        memories(api)
        let r = api.request("GET", "/v1/docs/memories?where=\(condition)")
        #expect(r.status == 400)
        #expect(r.object["error"] as? String == code, "\(condition): \(r.body)")
        #expect((r.object["message"] as? String)?.isEmpty == false)
    }

    @Test func badQueriesExitWithTheCLIsCodes() throws {
        let api = try APITestNode("badcli")
        defer { api.stop() }
        memories(api)
        let malformed = api.command(["ls", "--where", "importance>>3", "--", "memories"])
        #expect(malformed.code == ExitCode.usage.rawValue)
        #expect(malformed.stderr.contains("malformed condition 'importance>>3'"))
        let bound = api.command(["ls", "--where", "importance<lots", "--", "memories"])
        #expect(bound.code == ExitCode.usage.rawValue && bound.stderr.contains("non-numeric range bound"))
        let field = api.command(["ls", "--where", "mood=happy", "--", "memories"])
        #expect(field.code == ExitCode.notFound.rawValue && field.stderr.contains("unknown field 'mood'"))
        let collection = api.command(["ls", "--order", "importance", "--", "nothing"])
        #expect(collection.code == ExitCode.notFound.rawValue && collection.stderr.contains("unknown collection 'nothing'"))
        #expect(collection.stderr.contains("collections here: memories"), "\(collection.stderr)")
        // A set cannot order a listing.
        let bySet = api.command(["ls", "--order", "tags", "--", "memories"])
        #expect(bySet.code == ExitCode.usage.rawValue && bySet.stderr.contains("cannot order by 'tags'"), "\(bySet.stderr)")
        let bySetAPI = api.request("GET", "/v1/docs/memories?order=tags")
        #expect(bySetAPI.status == 400 && bySetAPI.object["error"] as? String == "not_orderable", "\(bySetAPI.body)")
        // Text that reads as a number matches nothing in a numeric field: the answer says so.
        let typed = api.command(["ls", "--where", "importance=0.9", "--", "memories"])
        #expect(typed.code == 0 && typed.stdout.isEmpty)
        #expect(typed.stderr.contains("importance:=0.9"), "\(typed.stderr)")
        #expect(api.command(["ls", "--where", "importance:=0.9", "--", "memories"]).stdout == "m1\n")
        let unknown = api.request("GET", "/v1/docs/nothing?where=topic%3Dcats")
        #expect(unknown.status == 400 && unknown.object["error"] as? String == "unknown_collection")
        #expect(api.command(["ls", "--order", "topic", "--after", "m1", "--", "memories"]).code == ExitCode.usage.rawValue)
        #expect(api.command(["ls", "--desc", "--", "memories"]).code == ExitCode.usage.rawValue)
        // Without a query, an unknown collection still lists nothing (as before).
        #expect(api.command(["ls", "--json", "--", "nothing"]).stdout == "[]\n")
    }

    @Test func theFilteredFeedDeliversMatchingChangesAndMarksADocumentThatStoppedMatching() throws {
        let api = try APITestNode("feedquery")
        defer { api.stop() }
        memories(api)
        let start = api.request("GET", "/v1/changes?since=0&limit=1000").object["next"] as? Int ?? 0
        #expect(api.command(["put", "--", "memories", "m2", "importance:=0.8"]).code == 0)  // now matches
        #expect(api.command(["put", "--", "memories", "m3", "importance:=0.1"]).code == 0)  // a dog: never matches
        #expect(api.command(["put", "--", "memories", "m1", "topic=dogs"]).code == 0)  // stops matching
        #expect(api.command(["put", "--", "memories", "m4", "note=unrelated"]).code == 0)  // matches, field not in the condition
        let page = api.request("GET", "/v1/changes?since=\(start)&where=topic%3Dcats&where=importance%3E0.5")
        #expect(page.status == 200)
        let changes = page.object["changes"] as? [[String: Any]] ?? []
        let docs = changes.compactMap { ($0["documents"] as? [[String: Any]])?.first }
        #expect(docs.map { $0["id"] as? String } == ["m2", "m3", "m1", "m4"])
        // m3's importance changed but it is a dog: a page has no memory, so it reports it as not matching.
        #expect(docs.map { $0["matches"] as? Bool } == [true, false, false, true])
        #expect(page.object["next"] as? Int == start + 4)

        let bad = api.request("GET", "/v1/changes?since=0&where=importance%3E%3E1")
        #expect(bad.status == 400 && bad.object["error"] as? String == "bad_condition")
    }

    @Test func aLiveFilterMarksOnlyDocumentsThatMatchedBefore() throws {
        let api = try APITestNode("feedlive")
        defer { api.stop() }
        memories(api)
        let store = api.node.store
        var filter = FeedFilter(collection: "memories", conditions: [QueryCondition("topic", .equals(.string("cats")))])
        onLoop(api) { filter.seed(from: store) }
        #expect(filter.matched?.map(\.id.string).sorted() == ["m1", "m2", "m4"])
        #expect(api.command(["put", "--", "memories", "m1", "topic=dogs"]).code == 0)
        #expect(api.command(["put", "--", "memories", "m3", "importance:=0.3"]).code == 0)
        var marks: [Bool?] = []
        onLoop(api) {
            let state = store.state
            for id in ["m1", "m3", "m1"] {
                let change = ChangeEntry.DocumentChange(collection: "memories", id: Key(id), fields: ["topic"], removal: false)
                marks.append(filter.classify(change, state))
            }
        }
        // m1 left once (then it is no longer reported); m3 never matched.
        #expect(marks == [false, nil, nil])
    }

    @Test func anEraseIsReportedAsWhatItErasedAndEndsAFilteredMatch() throws {
        let api = try APITestNode("feederase")
        defer { api.stop() }
        memories(api)
        let start = api.request("GET", "/v1/changes?since=0&limit=1000").object["next"] as? Int ?? 0
        let store = api.node.store
        var live = FeedFilter(collection: "memories", conditions: [QueryCondition("topic", .equals(.string("cats")))])
        onLoop(api) { live.seed(from: store) }
        #expect(api.command(["forget", "--", "memories", "m1"]).code == 0)
        #expect(api.command(["forget", "--", "memories", "m5", "tags"]).code == 0)
        let page = api.request("GET", "/v1/changes?since=\(start)&documents=1")
        let docs = (page.object["changes"] as? [[String: Any]] ?? []).compactMap { ($0["documents"] as? [[String: Any]])?.first }
        #expect(docs.map { $0["collection"] as? String } == ["memories", "memories"], "\(page.body)")
        #expect(docs.map { $0["id"] as? String } == ["m1", "m5"])
        #expect(docs.map { $0["erased"] as? Bool } == [true, true])
        #expect(docs.map { $0["fields"] as? [String] } == [[], ["tags"]])
        #expect(docs.first?["document"] is NSNull)
        #expect(!page.body.contains("~erasures"))
        // A filtered page reports the erased match as no longer matching (and, having no memory
        // of what matched, the owl's erased tags as well, as it reports every removal).
        let filtered = api.request("GET", "/v1/changes?since=\(start)&where=topic%3Dcats")
        let marks = (filtered.object["changes"] as? [[String: Any]] ?? []).compactMap { ($0["documents"] as? [[String: Any]])?.first }
        #expect(marks.map { $0["id"] as? String } == ["m1", "m5"], "\(filtered.body)")
        #expect(marks.map { $0["matches"] as? Bool } == [false, false])
        // A live filter, which remembers matches, marks only the erased cat.
        var liveMarks: [Bool?] = []
        onLoop(api) {
            for d in docs {
                let change = ChangeEntry.DocumentChange(
                    collection: "memories", id: Key(d["id"] as? String ?? ""), fields: [], removal: true, erased: true)
                liveMarks.append(live.classify(change, store.state))
            }
        }
        #expect(liveMarks == [false, nil])
    }

    /// Runs `body` on the node's loop (the store's thread) and waits for it.
    func onLoop(_ api: APITestNode, _ body: @escaping () -> Void) {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let run = body
        api.node.loop.post {
            run()
            done.signal()
        }
        done.wait()
    }
}
