package import LatticeNode

/// `GET /`: the node's status page — one self-contained HTML document (inline CSS and JS, no
/// external assets, no framework) that polls `/v1/status`, `/v1/peers`, `/v1/conflicts` and
/// `/metrics` every 2 s with the API token and shows this node, its peers, the conflicts and
/// the throughput (from counter deltas between polls).
///
/// The HTML holds no data, so it is served without a token (a public path of the server). The
/// token comes from the URL fragment (`#token=…`, never sent to the server) or a form, stays in
/// the tab's `sessionStorage`, and leaves only as an `Authorization: Bearer` header. Every
/// value is put into the DOM as text (`textContent`, `append(string)`), never as markup.
package enum StatusPage {
    /// Where the page is served.
    package static let path = "/"

    /// The headers of the page: no caching, and a policy that allows nothing but the page's own
    /// inline script and style and requests to its own origin.
    package static let headers: [(name: String, value: String)] = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]

    /// The answer to a request for ``path``: the page for `GET` and `HEAD` (the server drops the
    /// body of a `HEAD`), 405 otherwise.
    /// - Parameter method: the request's method.
    /// - Returns: the response.
    package static func response(method: String) -> HTTPResponse {
        guard method == "GET" || method == "HEAD" else {
            var r = HTTPResponse.error(405, code: "method_not_allowed", message: "/ (the status page) takes GET")
            r.headers.append(("Allow", "GET, HEAD"))
            return r
        }
        return HTTPResponse(status: 200, headers: headers, body: body)
    }

    /// The page's URL for `lattice status`, with a placeholder where the token goes.
    /// - Parameters:
    ///   - address: where the API listens.
    ///   - tokenFile: the path of `api.token` (named, never read).
    /// - Returns: for example `http://127.0.0.1:7947/#token=<contents of /root/.lattice/api.token>`.
    package static func url(_ address: SocketAddress, tokenFile: String) -> String {
        let host = address.host.contains(":") ? "[\(address.host)]" : address.host
        return "http://\(host):\(address.port)/#token=<contents of \(tokenFile)>"
    }

    package static let body: [UInt8] = Array(html.utf8)

    package static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <link rel="icon" href="data:,">
        <title>Lattice node</title>
        <style>
        :root {
          --bg: #f4f6f9; --card: #fff; --text: #1c2433; --muted: #687285; --line: #e2e6ed; --soft: #f7f8fb;
          --accent: #3b5bdb; --accent-soft: #e8edfd;
          --ok: #1a7f45; --ok-bg: #e3f5ea; --warn: #9a6210; --warn-bg: #fcf1dc;
          --bad: #c0312b; --bad-bg: #fde8e7; --idle: #5c6576; --idle-bg: #eceff4;
        }
        * { box-sizing: border-box; }
        html { -webkit-text-size-adjust: 100%; }
        body { margin: 0; background: var(--bg); color: var(--text);
          font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif; }
        .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12.5px; }
        [hidden] { display: none !important; }
        header { position: sticky; top: 0; z-index: 2; display: flex; align-items: center; gap: 10px; flex-wrap: wrap;
          padding: 10px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
        header h1 { margin: 0; font-size: 16px; font-weight: 650; letter-spacing: -0.01em; }
        header .name { color: var(--muted); font-weight: 500; }
        header .right { margin-left: auto; display: flex; align-items: center; gap: 10px; color: var(--muted); font-size: 12px; }
        .logo { width: 22px; height: 22px; flex: none; }
        main { max-width: 1240px; margin: 0 auto; padding: 16px 20px 28px; display: grid; gap: 16px; }
        .row { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 4fr); gap: 16px; align-items: start; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
        .card h2 { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 0 0 12px; font-size: 12px; font-weight: 650;
          letter-spacing: 0.06em; text-transform: uppercase; color: var(--muted); }
        .card h2 .note { margin-left: auto; font-weight: 500; letter-spacing: 0; text-transform: none; }
        .count { min-width: 20px; padding: 0 7px; border-radius: 999px; background: var(--idle-bg); color: var(--text);
          font-size: 11px; text-align: center; letter-spacing: 0; }
        .count.bad { background: var(--bad-bg); color: var(--bad); }
        .pill { display: inline-flex; align-items: center; gap: 6px; padding: 1px 9px; border-radius: 999px;
          font-size: 12px; font-weight: 600; white-space: nowrap; line-height: 20px; }
        .pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
        .ok { color: var(--ok); background: var(--ok-bg); }
        .warn { color: var(--warn); background: var(--warn-bg); }
        .bad { color: var(--bad); background: var(--bad-bg); }
        .idle { color: var(--idle); background: var(--idle-bg); }
        .pills { display: flex; flex-wrap: wrap; gap: 6px; }
        .banner { padding: 10px 14px; border-radius: 8px; border: 1px solid; font-weight: 500; }
        .banner.bad { border-color: #f4c3c0; }
        .banner.warn { border-color: #f0d9a8; }
        .stale .card { opacity: 0.6; }
        dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 7px 18px; margin: 0; }
        dl.kv dt { color: var(--muted); }
        dl.kv dd { margin: 0; overflow-wrap: anywhere; }
        .big { font-size: 15px; font-weight: 650; font-variant-numeric: tabular-nums; }
        .sub { display: block; color: var(--muted); font-size: 12px; }
        .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(132px, 1fr)); gap: 10px; }
        .tile { padding: 9px 11px 7px; border: 1px solid var(--line); border-radius: 8px; background: var(--soft); min-width: 0; }
        .tile .label { color: var(--muted); font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        .tile .value { font-size: 21px; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.3; }
        .tile .unit { margin-left: 4px; color: var(--muted); font-size: 12px; font-weight: 500; }
        .tile svg { display: block; width: 100%; height: 26px; margin-top: 2px; }
        .spark-line { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
        .spark-area { fill: var(--accent-soft); stroke: none; }
        .totals { margin-top: 10px; color: var(--muted); font-size: 12px; }
        .scroll { overflow-x: auto; }
        table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
        th { padding: 6px 10px; border-bottom: 1px solid var(--line); color: var(--muted); font-size: 12px; font-weight: 600;
          text-align: left; white-space: nowrap; }
        td { padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th:first-child, td:first-child { padding-left: 0; }
        th:last-child, td:last-child { padding-right: 0; }
        tbody tr:last-child td { border-bottom: 0; }
        .num { text-align: right; white-space: nowrap; }
        .errtext { color: var(--bad); overflow-wrap: anywhere; }
        .sub.lagging { color: var(--warn); font-weight: 600; }
        .dim { color: var(--muted); }
        .empty { color: var(--muted); padding: 4px 0; }
        .conflict { padding: 10px 0; border-top: 1px solid var(--line); }
        .conflict:first-child { padding-top: 0; border-top: 0; }
        .conflict .path { font-weight: 600; overflow-wrap: anywhere; }
        .conflict .field { color: var(--accent); }
        .siblings { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
        .sibling { max-width: 100%; padding: 4px 9px; border: 1px solid var(--line); border-radius: 6px; background: var(--soft); }
        .sibling .v { display: block; overflow-wrap: anywhere; }
        .sibling .meta { display: block; color: var(--muted); font-size: 11px; }
        #login { max-width: 520px; margin: 40px auto 0; }
        #login p { margin: 0 0 10px; color: var(--muted); }
        #login code { padding: 1px 5px; border-radius: 4px; background: var(--idle-bg); color: var(--text); }
        #login form { display: flex; gap: 8px; margin-top: 12px; }
        #login input { flex: 1; min-width: 0; padding: 7px 10px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
        #login input:focus { outline: 2px solid var(--accent-soft); border-color: var(--accent); }
        button { padding: 7px 14px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; font: inherit; font-weight: 600; cursor: pointer; }
        button.link { padding: 0; background: none; color: var(--muted); font-size: 12px; font-weight: 500; text-decoration: underline; }
        #login-error { margin-top: 10px; }
        footer { color: var(--muted); font-size: 12px; text-align: center; padding-bottom: 20px; }
        @media (max-width: 900px) { .row { grid-template-columns: minmax(0, 1fr); } }
        @media (max-width: 720px) {
          header, main { padding-left: 12px; padding-right: 12px; }
          table.peers thead { display: none; }
          table.peers tr { display: block; padding: 8px 0; border-bottom: 1px solid var(--line); }
          table.peers tbody tr:last-child { border-bottom: 0; }
          table.peers td { display: flex; justify-content: space-between; gap: 14px; padding: 2px 0; border: 0; text-align: right; }
          table.peers td::before { content: attr(data-label); color: var(--muted); font-size: 12px; text-align: left; white-space: nowrap; }
          table.peers td .cv { min-width: 0; text-align: right; }
          table.peers td .sub { display: inline; margin-left: 6px; }
          .card h2 .note.wide { display: none; }
        }
        </style>
        </head>
        <body>
        <header>
          <svg class="logo" viewBox="0 0 24 24" aria-hidden="true">
            <path d="M12 2 22 12 12 22 2 12Z" fill="#e8edfd" stroke="#3b5bdb" stroke-width="1.6" stroke-linejoin="round"/>
            <path d="M7 7l10 10M17 7 7 17" stroke="#3b5bdb" stroke-width="1.4"/>
            <circle cx="12" cy="12" r="2.2" fill="#3b5bdb"/>
          </svg>
          <h1>Lattice <span class="name" id="node-name"></span></h1>
          <span class="pill idle" id="conn" data-state="loading">loading</span>
          <div class="right"><span id="updated"></span><button class="link" id="forget" type="button" hidden>forget token</button></div>
        </header>

        <section class="card" id="login" hidden>
          <h2>API token</h2>
          <p>This page reads the node through its HTTP API, which needs the node's token. It is in
            <code>DATA/api.token</code>, by default <code>~/.lattice/api.token</code>:</p>
          <p><code>cat ~/.lattice/api.token</code>, then paste it here, or open <code id="token-url">/#token=…</code></p>
          <p>The token stays in this tab (sessionStorage) and is sent only to this node.</p>
          <form id="token-form" autocomplete="off">
            <input id="token-input" type="password" placeholder="paste the token" aria-label="API token" spellcheck="false">
            <button type="submit">Open</button>
          </form>
          <div class="banner bad" id="login-error" hidden></div>
        </section>

        <main id="dash" hidden>
          <div class="banner bad" id="banner" hidden></div>
          <div class="row">
            <section class="card" id="node-card">
              <h2>This node <span class="note" id="node-state"></span></h2>
              <dl class="kv" id="node"><dt>status</dt><dd class="dim">waiting for the node…</dd></dl>
            </section>
            <section class="card" id="throughput-card">
              <h2>Throughput <span class="note">per second, over the last 2 min</span></h2>
              <div class="tiles" id="throughput"></div>
              <div class="totals" id="totals"></div>
            </section>
          </div>
          <section class="card">
            <h2>Peers <span class="count" id="peer-count">0</span><span class="note" id="peer-summary"></span></h2>
            <div class="scroll" id="peers-table" hidden>
              <table class="peers">
                <thead><tr>
                  <th>Peer</th><th>Address</th><th>State</th><th class="num">Acked</th><th class="num">Pending</th>
                  <th class="num">In</th><th class="num">Out</th><th class="num">RTT</th><th>Last error</th>
                </tr></thead>
                <tbody id="peers"></tbody>
              </table>
            </div>
            <div class="empty" id="no-peers" hidden>No peers known yet: start with <span class="mono">--peer NODE_ID@HOST:PORT</span> or wait for LAN discovery.</div>
          </section>
          <section class="card">
            <h2>Conflicts <span class="count" id="conflict-count">0</span><span class="note wide">fields holding concurrent values; <span class="mono">lattice resolve</span> picks one</span></h2>
            <div id="conflicts"><div class="empty">waiting for the node…</div></div>
          </section>
        </main>
        <footer id="footer" hidden>Refreshes every 2 s from the node's API · <span class="mono">GET /v1/status, /v1/peers, /v1/conflicts, /metrics</span></footer>

        <script>
        "use strict";
        (function () {
          var KEY = "lattice.api.token";
          var EVERY = 2000;
          var KEEP = 60;
          var token = "";
          var timer = 0;
          var generation = 0;
          var lastMetrics = null;
          var lastPeers = null;
          var lastOK = 0;
          var trend = { local: [], remote: [], sent: [], bin: [], bout: [], msgs: [] };

          function $(id) { return document.getElementById(id); }

          // Builds an element; strings among the children become text nodes (never markup).
          function el(tag, attrs) {
            var e = document.createElement(tag);
            if (attrs) {
              Object.keys(attrs).forEach(function (k) {
                var v = attrs[k];
                if (v === undefined || v === null || v === false) return;
                if (k === "class") e.className = v; else e.setAttribute(k, String(v));
              });
            }
            (function add(kids) {
              kids.forEach(function (c) {
                if (c === undefined || c === null || c === false) return;
                if (Array.isArray(c)) add(c); else e.append(typeof c === "object" ? c : String(c));
              });
            })(Array.prototype.slice.call(arguments, 2));
            return e;
          }
          // A table cell whose content sits in one box (one flex item in the narrow layout).
          function td(attrs) { return el("td", attrs, el("div", { "class": "cv" }, Array.prototype.slice.call(arguments, 1))); }
          function svg(tag, attrs) {
            var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
            Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
            return e;
          }

          // --- formatting -------------------------------------------------------------------
          function isNum(n) { return typeof n === "number" && isFinite(n); }
          function int(n) { return isNum(n) ? Math.round(n).toLocaleString("en-US") : "—"; }
          function bytes(n) {
            if (!isNum(n)) return "—";
            var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
            while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
            return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
          }
          function rate(n) {
            if (!isNum(n)) return "—";
            if (n === 0) return "0";
            return n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US");
          }
          function byteRate(n) { return isNum(n) ? bytes(n) + "/s" : "—"; }
          function duration(ms) {
            if (!isNum(ms)) return "—";
            if (ms < 1000) return Math.round(ms) + " ms";
            var s = ms / 1000;
            if (s < 60) return (s < 10 ? s.toFixed(1) : String(Math.floor(s))) + " s";
            var m = Math.floor(s / 60);
            if (m < 60) return m + " min " + Math.floor(s % 60) + " s";
            var h = Math.floor(m / 60);
            if (h < 48) return h + " h " + (m % 60) + " min";
            return Math.floor(h / 24) + " d " + (h % 24) + " h";
          }
          function shortID(id) { id = String(id || ""); return id.length > 16 ? id.slice(0, 15) + "…" : id; }
          function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + "…" : s; }
          function valueText(v) {
            if (v === null || v === undefined) return "null";
            if (typeof v === "string") return JSON.stringify(v);
            if (typeof v === "object") {
              if (typeof v.$bytes === "string") return "b64:" + v.$bytes;
              if (typeof v.$double === "string") return v.$double;
              return JSON.stringify(v);
            }
            return String(v);
          }
          function clock(t) { return new Date(t).toLocaleTimeString("en-GB"); }
          function plural(n, one, many) { return int(n) + " " + (n === 1 ? one : many); }

          // --- token ------------------------------------------------------------------------
          function store(t) { try { if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY); } catch (e) {} }
          function stored() { try { return sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; } }
          function takeToken() {
            var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
            if (m) {
              var t = "";
              try { t = decodeURIComponent(m[1]).trim(); } catch (e) {}
              if (t) store(t);
              clearFragment();
              if (t) return t;
            }
            return stored();
          }
          function clearFragment() {
            try { window.history.replaceState(null, "", location.pathname + location.search); } catch (e) {}
          }
          function validToken(t) { return /^[\x21-\x7e]+$/.test(t); }

          function showLogin(message) {
            clearTimeout(timer);
            generation++;
            token = "";
            store("");
            $("dash").hidden = true;
            $("footer").hidden = true;
            $("forget").hidden = true;
            $("login").hidden = false;
            setConn("auth", "token needed", "warn");
            $("login-error").hidden = !message;
            $("login-error").textContent = message || "";
            $("updated").textContent = "";
            $("token-input").focus();
          }
          function start(t) {
            token = t;
            generation++;
            lastMetrics = null;
            lastPeers = null;
            Object.keys(trend).forEach(function (k) { trend[k] = []; });
            $("login").hidden = true;
            $("dash").hidden = false;
            $("footer").hidden = false;
            $("forget").hidden = false;
            setConn("loading", "loading", "idle");
            refresh();
          }
          $("token-form").addEventListener("submit", function (ev) {
            ev.preventDefault();
            var t = $("token-input").value.trim();
            if (!validToken(t)) {
              $("login-error").hidden = false;
              $("login-error").textContent = "A token is one line of printable characters: the content of DATA/api.token.";
              return;
            }
            $("token-input").value = "";
            store(t);
            start(t);
          });
          $("forget").addEventListener("click", function () { showLogin(""); });

          // --- API --------------------------------------------------------------------------
          function AuthError() { this.message = "unauthorized"; }
          function get(path, asText) {
            var controller = new AbortController();
            var timeout = setTimeout(function () { controller.abort(); }, 5000);
            return fetch(path, {
              headers: { "Authorization": "Bearer " + token }, cache: "no-store", credentials: "omit",
              redirect: "error", signal: controller.signal
            }).then(function (r) {
              if (r.status === 401) throw new AuthError();
              if (!r.ok) {
                return r.json().catch(function () { return {}; }).then(function (j) {
                  throw new Error(path + ": HTTP " + r.status + (j && j.message ? " — " + j.message : ""));
                });
              }
              return asText ? r.text() : r.json();
            }).finally(function () { clearTimeout(timeout); });
          }

          function refresh() {
            clearTimeout(timer);
            var mine = generation;
            var began = Date.now();
            Promise.allSettled([get("/v1/status"), get("/v1/peers"), get("/v1/conflicts"), get("/metrics", true)])
              .then(function (results) {
                if (mine !== generation) return;
                var now = Date.now();
                var failures = results.filter(function (r) { return r.status === "rejected"; }).map(function (r) { return r.reason; });
                if (failures.some(function (e) { return e instanceof AuthError; })) {
                  showLogin("The node refused this token (HTTP 401). Paste the current token from DATA/api.token.");
                  return;
                }
                var parts = [
                  [results[0], renderNode], [results[1], renderPeers], [results[2], renderConflicts], [results[3], renderThroughput]
                ];
                parts.forEach(function (p) {
                  if (p[0].status !== "fulfilled") return;
                  try { p[1](p[0].value, now); } catch (e) { failures.push(e); }
                });
                if (failures.length === results.length) {
                  var why = failures[0] && failures[0].message ? failures[0].message : String(failures[0]);
                  var network = failures.every(function (e) { return e instanceof TypeError || (e && e.name === "AbortError"); });
                  setConn("down", network ? "unreachable" : "error", "bad");
                  showBanner((network ? "Node unreachable" : "The node answered with an error") + " (" + why + "). Retrying every 2 s" +
                    (lastOK ? "; figures below are from " + clock(lastOK) + "." : "."));
                  document.body.classList.add("stale");
                } else {
                  lastOK = now;
                  document.body.classList.remove("stale");
                  if (failures.length) {
                    setConn("partial", "partly live", "warn");
                    showBanner("Some figures could not be read: " + failures.map(function (e) { return e && e.message ? e.message : String(e); }).join("; "), "warn");
                  } else {
                    setConn("live", "live", "ok");
                    showBanner("");
                  }
                  $("updated").textContent = "updated " + clock(now);
                }
                timer = setTimeout(refresh, Math.max(250, EVERY - (Date.now() - began)));
              });
          }
          function setConn(state, text, tone) {
            var c = $("conn");
            c.className = "pill " + tone;
            c.textContent = text;
            c.setAttribute("data-state", state);
          }
          function showBanner(text, tone) {
            var b = $("banner");
            b.hidden = !text;
            b.className = "banner " + (tone || "bad");
            b.textContent = text || "";
          }

          // --- this node --------------------------------------------------------------------
          function renderNode(s) {
            var name = typeof s.name === "string" ? s.name : "";
            $("node-name").textContent = name ? "· " + name : "";
            document.title = "Lattice · " + (name || shortID(s.node_id));
            var dl = $("node");
            var rows = [];
            function row(label, dd) { rows.push(el("dt", null, label), dd); }
            row("node ID", el("dd", { id: "node-id", "class": "mono" }, String(s.node_id || "")));
            if (name) row("name", el("dd", { id: "node-label" }, name));
            if (typeof s.data === "string") row("data", el("dd", { "class": "mono" }, s.data));
            if (typeof s.listen === "string") row("listens", el("dd", { "class": "mono" }, s.listen));
            var pills = el("dd", { "class": "pills", id: "node-flags" },
              el("span", { "class": "pill " + (s.running ? "ok" : "idle") }, s.running ? "running" : "not running"),
              s.isolated ? el("span", { "class": "pill warn" }, "isolated") : null,
              el("span", { "class": "pill " + (s.discovery ? "ok" : "idle") }, s.discovery ? "LAN discovery on" : "LAN discovery off"));
            row("state", pills);
            row("documents", el("dd", null, el("span", { "class": "big", id: "documents", "data-value": s.documents }, int(s.documents)),
              " in " + plural(s.collections, "collection", "collections")));
            row("conflicts", el("dd", null, el("span", { "class": "big" + (s.conflicts > 0 ? " errtext" : ""), id: "conflicts-total", "data-value": s.conflicts }, int(s.conflicts))));
            row("log", el("dd", null, bytes(s.log_bytes) + " · " + plural(s.log_records, "record", "records") + " in " +
              plural(s.log_segments, "segment", "segments"), el("span", { "class": "sub" }, "last sequence " + int(s.last_sequence) + " · fsync " + (s.fsync || "?"))));
            row("snapshot", el("dd", null, s.snapshot_sequence === null || s.snapshot_sequence === undefined ? "none yet" :
              "sequence " + int(s.snapshot_sequence) + ", " + duration((s.snapshot_age_s || 0) * 1000) + " old"));
            dl.replaceChildren.apply(dl, rows);
            var unacked = (Array.isArray(s.peers) ? s.peers : []).reduce(function (a, p) { return a + (isNum(p.pending) ? p.pending : 0); }, 0);
            $("node-state").textContent = unacked ? int(unacked) + " change" + (unacked === 1 ? "" : "s") + " not yet acknowledged" : "";
          }

          // --- peers ------------------------------------------------------------------------
          function renderPeers(p, now) {
            var peers = Array.isArray(p.peers) ? p.peers : [];
            var rates = {};
            if (lastPeers && now > lastPeers.t) {
              var dt = (now - lastPeers.t) / 1000;
              peers.forEach(function (x) {
                var before = lastPeers.map[x.node_id || x.replica];
                if (!before) return;
                var i = x.bytes_in - before.bin, o = x.bytes_out - before.bout;
                rates[x.node_id || x.replica] = { bin: i >= 0 ? i / dt : null, bout: o >= 0 ? o / dt : null };
              });
            }
            var map = {};
            peers.forEach(function (x) { map[x.node_id || x.replica] = { bin: x.bytes_in, bout: x.bytes_out }; });
            lastPeers = { t: now, map: map };

            var connected = peers.filter(function (x) { return x.connected; }).length;
            $("peer-count").textContent = int(peers.length);
            $("peer-summary").textContent = peers.length ? connected + " of " + peers.length + " connected" : "";
            $("no-peers").hidden = peers.length > 0;
            $("peers-table").hidden = peers.length === 0;
            var rows = peers.map(function (x) {
              var id = String(x.node_id || x.replica || "");
              var state, tone, since;
              if (isNum(x.quarantined_for_ms)) { state = "quarantined"; tone = "bad"; since = "for " + duration(x.quarantined_for_ms) + " more"; }
              else if (x.connected) {
                state = x.synced ? "connected · synced" : "connected · syncing"; tone = x.synced ? "ok" : "warn";
                since = isNum(x.connected_for_ms) ? "for " + duration(x.connected_for_ms) : "";
              } else {
                state = "offline"; tone = "idle";
                since = isNum(x.last_seen_ms_ago) ? "seen " + duration(x.last_seen_ms_ago) + " ago" : "never seen";
              }
              var r = rates[x.node_id || x.replica] || {};
              var pending = isNum(x.pending) ? x.pending : 0;
              return el("tr", { "data-peer": id, "data-state": x.connected ? "connected" : "offline" },
                td({ "data-label": "Peer" }, el("span", { "class": "mono", title: id }, shortID(id))),
                td({ "data-label": "Address", "class": "mono" }, x.address || "—"),
                td({ "data-label": "State" }, el("span", { "class": "pill " + tone }, state), el("span", { "class": "sub" }, since)),
                td({ "data-label": "Acked", "class": "num" }, int(x.acknowledged_changes)),
                td({ "data-label": "Pending", "class": "num", "data-value": pending }, int(pending),
                  el("span", { "class": "sub" + (x.lag_ms > 10000 ? " lagging" : "") }, isNum(x.lag_ms) ? "lag " + duration(x.lag_ms) : "no lag")),
                td({ "data-label": "In", "class": "num", "data-value": x.bytes_in }, bytes(x.bytes_in),
                  el("span", { "class": "sub" }, plural(x.messages_in, "msg", "msgs") + (isNum(r.bin) ? " · " + byteRate(r.bin) : ""))),
                td({ "data-label": "Out", "class": "num", "data-value": x.bytes_out }, bytes(x.bytes_out),
                  el("span", { "class": "sub" }, plural(x.messages_out, "msg", "msgs") + (isNum(r.bout) ? " · " + byteRate(r.bout) : ""))),
                td({ "data-label": "RTT", "class": "num" }, isNum(x.rtt_ms) ? duration(x.rtt_ms) : "—"),
                td({ "data-label": "Last error", "class": x.last_error ? "errtext" : "dim" }, x.last_error ? clip(x.last_error, 200) : "—"));
            });
            var body = $("peers");
            body.replaceChildren.apply(body, rows);
          }

          // --- conflicts --------------------------------------------------------------------
          function renderConflicts(list) {
            list = Array.isArray(list) ? list : [];
            var count = $("conflict-count");
            count.textContent = int(list.length);
            count.className = "count" + (list.length ? " bad" : "");
            var box = $("conflicts");
            if (!list.length) { box.replaceChildren(el("div", { "class": "empty" }, "No conflicts: every field holds one value.")); return; }
            var shown = list.slice(0, 50).map(function (c) {
              var siblings = (Array.isArray(c.siblings) ? c.siblings : []).map(function (s) {
                var text = valueText(s.value);
                return el("div", { "class": "sibling" },
                  el("span", { "class": "v mono", title: text.length > 160 ? text : null }, clip(text, 160)),
                  el("span", { "class": "meta" }, "from " + clip(s.node || s.origin || "?", 16) + (s.time ? " · " + s.time : "")));
              });
              var kinds = Array.isArray(c.kinds) ? c.kinds : [];
              return el("div", { "class": "conflict", "data-path": c.collection + "/" + c.id + "/" + c.field },
                el("div", { "class": "path" }, String(c.collection), " / ", String(c.id), " · ", el("span", { "class": "field" }, String(c.field)),
                  el("span", { "class": "sub" }, kinds.length > 1 ? "kinds: " + kinds.join(", ") : plural(siblings.length, "value", "concurrent values"))),
                el("div", { "class": "siblings" }, siblings.length ? siblings : el("span", { "class": "dim" }, "entries of different kinds")));
            });
            if (list.length > 50) shown.push(el("div", { "class": "empty" }, "and " + int(list.length - 50) + " more (lattice conflicts lists them all)"));
            box.replaceChildren.apply(box, shown);
          }

          // --- throughput from /metrics -----------------------------------------------------
          function parseMetrics(text) {
            var series = {};
            String(text).split("\n").forEach(function (line) {
              if (!line || line.charAt(0) === "#") return;
              var m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
              if (!m) return;
              var v = Number(m[3]);
              if (isFinite(v)) series[m[1] + (m[2] || "")] = v;
            });
            return series;
          }
          // Sum over the series of a metric (optionally with a label) of their increase since the
          // last poll; a series that is new or went down (a restart) counts nothing.
          function increase(now, before, name, label) {
            var total = 0;
            Object.keys(now).forEach(function (k) {
              if (k !== name && k.indexOf(name + "{") !== 0) return;
              if (label && k.indexOf(label) < 0) return;
              if (!(k in before)) return;
              var d = now[k] - before[k];
              if (d > 0) total += d;
            });
            return total;
          }
          function sum(now, name, label) {
            var total = 0;
            Object.keys(now).forEach(function (k) {
              if ((k === name || k.indexOf(name + "{") === 0) && (!label || k.indexOf(label) >= 0)) total += now[k];
            });
            return total;
          }
          var tiles = [
            ["local", "Local changes", "/s", "changes_local_total", null, false],
            ["remote", "Remote changes", "/s", "changes_remote_total", null, false],
            ["sent", "Changes sent", "/s", "changes_sent_total", null, false],
            ["bin", "Bytes in", "", "peer_bytes_total", 'direction="in"', true],
            ["bout", "Bytes out", "", "peer_bytes_total", 'direction="out"', true],
            ["msgs", "Sync messages", "/s", "peer_messages_total", null, false]
          ];
          function renderThroughput(text, now) {
            var m = parseMetrics(text);
            var rates = {};
            if (lastMetrics && now > lastMetrics.t) {
              var dt = (now - lastMetrics.t) / 1000;
              tiles.forEach(function (t) { rates[t[0]] = increase(m, lastMetrics.m, "lattice_" + t[3], t[4]) / dt; });
              tiles.forEach(function (t) { trend[t[0]].push(rates[t[0]]); if (trend[t[0]].length > KEEP) trend[t[0]].shift(); });
            }
            lastMetrics = { t: now, m: m };
            var box = $("throughput");
            box.replaceChildren.apply(box, tiles.map(function (t) {
              var v = rates[t[0]];
              var shown = t[5] ? (isNum(v) ? bytes(v).split(" ") : ["—", ""]) : [rate(v), ""];
              return el("div", { "class": "tile", id: "rate-" + t[0], "data-value": isNum(v) ? v.toFixed(3) : null },
                el("div", { "class": "label" }, t[1]),
                el("div", { "class": "value" }, shown[0], el("span", { "class": "unit" }, t[5] ? (shown[1] ? shown[1] + "/s" : "") : (isNum(v) ? "/s" : ""))),
                spark(trend[t[0]]));
            }));
            $("totals").textContent = "Totals since start: " + int(sum(m, "lattice_changes_local_total")) + " local, " +
              int(sum(m, "lattice_changes_remote_total")) + " remote, " + int(sum(m, "lattice_changes_sent_total")) + " sent; " +
              bytes(sum(m, "lattice_peer_bytes_total", 'direction="in"')) + " in, " + bytes(sum(m, "lattice_peer_bytes_total", 'direction="out"')) + " out in " +
              plural(sum(m, "lattice_peer_messages_total"), "message", "messages") + ".";
          }
          function spark(values) {
            var s = svg("svg", { viewBox: "0 0 " + KEEP + " 26", preserveAspectRatio: "none", "aria-hidden": "true" });
            if (values.length < 2) return s;
            var max = Math.max.apply(null, values.concat([1e-9]));
            var step = KEEP / (values.length - 1);
            var pts = values.map(function (v, i) { return (i * step).toFixed(2) + "," + (25 - (v / max) * 22).toFixed(2); });
            s.append(svg("polygon", { "class": "spark-area", points: "0,26 " + pts.join(" ") + " " + KEEP + ",26" }));
            s.append(svg("polyline", { "class": "spark-line", points: pts.join(" ") }));
            return s;
          }

          // --- start ------------------------------------------------------------------------
          $("token-url").textContent = location.origin + "/#token=…";
          var t = takeToken();
          if (t && validToken(t)) start(t); else showLogin(t ? "That token is not valid text; paste the content of DATA/api.token." : "");
        })();
        </script>
        </body>
        </html>
        """#
}
