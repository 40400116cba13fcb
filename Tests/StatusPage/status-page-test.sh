#!/usr/bin/env bash
# Tests/StatusPage/status-page-test.sh [LATTICE_BINARY] — the status page (`GET /`) of a real node,
# loaded in headless Chromium:
#   1. two `lattice run` nodes on loopback (temp data dirs, one network, no discovery), with
#      documents and a conflict made by offline writes on both sides before they meet;
#   2. curl: `GET /` without a token is 200 text/html with the security headers and loads nothing
#      from elsewhere; `HEAD /` has no body; `POST /` is 405; `GET /v1/status` without a token is 401;
#   3. Chromium runs the page's script (--dump-dom after --virtual-time-budget) with the token in
#      the fragment: the DOM shows this node's ID, the peer's ID connected, a documents count > 0,
#      the conflict with both values, the peer's traffic and throughput figures (two polls), and
#      never the token;
#   4. without a token the page shows the token form; with a wrong one, the 401 message;
#   5. render.sh writes a PNG of the page of the expected size (PAGE_PNG=FILE keeps a copy).
# Exit 0: pass; 1: a check failed (node logs printed); 77: skipped (no chromium or curl, or
# Chromium cannot start here).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:-.build/debug/lattice}")
RENDER=Tests/StatusPage/render.sh
WORK=$(mktemp -d /tmp/lattice-page.XXXXXX)
PIDS=()

say() { echo "status-page-test: $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
fail() { say "FAIL: $*"; exit 1; }
ok() { say "ok: $*"; }

teardown() {
    local rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        for n in a b; do echo "--- node $n log (last 30 lines)"; tail -n 30 "$WORK/$n.log" 2>/dev/null || true; done
        echo "--- chromium (last 20 lines but D-Bus noise)"; grep -v dbus "$WORK/chromium.log" 2>/dev/null | tail -n 20 || true
        [ -n "${KEEP:-}" ] && { rm -rf /tmp/lattice-page-failed; cp -r "$WORK" /tmp/lattice-page-failed; say "kept in /tmp/lattice-page-failed"; }
    fi
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    exit "$rc"
}
trap teardown EXIT
unset LATTICE_DATA

[ -x "$BIN" ] || fail "no lattice binary at $BIN (swift build first)"
command -v curl >/dev/null || skip "curl is not installed (apt-get install curl)"
CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROME" ] || skip "headless Chromium is not installed (apt-get install chromium; ./test.sh installs it)"
export CHROMIUM="$CHROME"

# chrome_dom NAME URL: the DOM after the page's script ran for 6 s of virtual time.
chrome_dom() {
    timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --no-default-browser-check --disable-extensions --disable-background-networking \
        --user-data-dir="$WORK/profile-$1" --virtual-time-budget=6000 --dump-dom "$2" 2>>"$WORK/chromium.log"
}
chrome_dom probe about:blank >/dev/null 2>&1 || skip "$CHROME does not start here: $(grep -v dbus "$WORK/chromium.log" 2>/dev/null | tail -n 1)"

# wait_until SECONDS DESCRIPTION COMMAND...: polls every 0.2 s.
wait_until() {
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${limit} s: $what"
        sleep 0.2
    done
}
# log_address FILE EVENT: the 127.0.0.1:PORT of the node's first EVENT log line.
log_address() { { grep "\"event\": \"$2\"" "$1" 2>/dev/null || true; } | head -1 | grep -o '127\.0\.0\.1:[0-9]*' | head -1 || true; }
has_address() { [ -n "$(log_address "$1" "$2")" ]; }
lat() { "$BIN" "$@"; }

# --- 1. two nodes of one network, a conflict made offline ---------------------------------------
lat init --name page-a --data "$WORK/a" >/dev/null
INVITE=$(lat invite --data "$WORK/a" | grep -o 'lattice1:[^ ]*' | head -1)
[ -n "$INVITE" ] || fail "lattice invite printed no invite"
lat init --name page-b --join "$INVITE" --data "$WORK/b" >/dev/null
for i in 1 2 3 4 5; do lat put memories "m$i" "text=memory $i" --data "$WORK/a" >/dev/null; done
lat put knowledge k1 title=page-test-from-a --data "$WORK/a" >/dev/null
lat put knowledge k1 title=page-test-from-b --data "$WORK/b" >/dev/null
ID_A=$(lat status --json --data "$WORK/a" | grep -o '"node_id": "[^"]*"' | cut -d'"' -f4)
ID_B=$(lat status --json --data "$WORK/b" | grep -o '"node_id": "[^"]*"' | cut -d'"' -f4)
[ -n "$ID_A" ] && [ -n "$ID_B" ] || fail "no node IDs from lattice status --json"
TOKEN=$(tr -d '[:space:]' <"$WORK/a/api.token")

"$BIN" run --data "$WORK/a" --listen 127.0.0.1:0 --no-discovery --api 127.0.0.1:0 2>"$WORK/a.log" &
PIDS+=($!)
wait_until 20 "node a serving its API" has_address "$WORK/a.log" api
wait_until 20 "node a listening" has_address "$WORK/a.log" started
API=$(log_address "$WORK/a.log" api)
PEER_A=$(log_address "$WORK/a.log" started)
"$BIN" run --data "$WORK/b" --listen 127.0.0.1:0 --no-discovery --no-api --peer "$ID_A@$PEER_A" 2>"$WORK/b.log" &
PIDS+=($!)
BASE="http://$API"
api() { curl -sf --max-time 5 -H "Authorization: Bearer $TOKEN" "$BASE$1"; }
connected() { [[ "$(api /v1/peers)" == *'"connected": true'* ]]; }
wait_until 30 "node a connected to node b" connected
conflict() { [[ "$(api /v1/conflicts)" == *page-test-from-b* ]]; }
wait_until 30 "the conflict on node a" conflict
ok "two nodes on loopback, connected, with a conflict (API at $BASE)"

# --- 2. HTTP: the public page, its headers, and the API still closed -----------------------------
code=$(curl -s --max-time 5 -D "$WORK/headers" -o "$WORK/page.html" -w '%{http_code}' "$BASE/")
[ "$code" = 200 ] || fail "GET / without a token: HTTP $code, expected 200"
header() { { grep -i "^$1:" "$WORK/headers" || true; } | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
[[ "$(header Content-Type)" == "text/html; charset=utf-8" ]] || fail "GET /: Content-Type '$(header Content-Type)'"
CSP=$(header Content-Security-Policy)
for directive in "default-src 'none'" "connect-src 'self'" "frame-ancestors 'none'" "base-uri 'none'"; do
    [[ "$CSP" == *"$directive"* ]] || fail "GET /: the Content-Security-Policy lacks \"$directive\" (got '$CSP')"
done
[ "$(header X-Frame-Options)" = DENY ] || fail "GET /: X-Frame-Options '$(header X-Frame-Options)'"
[ "$(header Cache-Control)" = no-store ] || fail "GET /: Cache-Control '$(header Cache-Control)'"
[ "$(header Referrer-Policy)" = no-referrer ] || fail "GET /: Referrer-Policy '$(header Referrer-Policy)'"
grep -q '<!doctype html>' "$WORK/page.html" || fail "GET /: the body is not the HTML page"
if grep -Eiq '(src|href|action)="[a-z]*:?//' "$WORK/page.html"; then fail "GET /: the page loads something from elsewhere"; fi
if grep -q "$TOKEN" "$WORK/page.html" || grep -q "$ID_A" "$WORK/page.html"; then fail "GET /: the public HTML holds node data"; fi
if grep -q innerHTML "$WORK/page.html"; then fail "the page uses innerHTML"; fi
code=$(curl -s --max-time 5 -I -o "$WORK/head" -w '%{http_code}' "$BASE/")
[ "$code" = 200 ] || fail "HEAD /: HTTP $code"
[ "$(curl -s --max-time 5 -X POST -o /dev/null -w '%{http_code}' "$BASE/")" = 405 ] || fail "POST / is not 405"
[ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$BASE/v1/status")" = 401 ] || fail "GET /v1/status without a token is not 401"
[ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$BASE/index.html")" = 401 ] || fail "only / is public: /index.html without a token is not 401"
ok "GET / is public with the security headers; the API still needs the token"

# --- 3. the page with the token: live figures in the DOM ----------------------------------------
chrome_dom live "$BASE/#token=$TOKEN" >"$WORK/live.html" || fail "chromium could not load the page"
# text_of ID: the text of the element with that id (no child elements).
text_of() { { grep -o "id=\"$1\"[^>]*>[^<]*" "$WORK/live.html" || true; } | head -1 | sed 's/.*>//'; }
# attr_of ID ATTR: an attribute of the element with that id.
attr_of() { { grep -o "<[^>]* id=\"$1\"[^>]*>" "$WORK/live.html" || true; } | head -1 | { grep -o "$2=\"[^\"]*\"" || true; } | cut -d'"' -f2; }
[ "$(attr_of conn data-state)" = live ] || fail "the page is not live: state '$(attr_of conn data-state)', banner: $(text_of banner)"
[ "$(text_of node-id)" = "$ID_A" ] || fail "this node's ID is not shown (got '$(text_of node-id)')"
docs=$(text_of documents)
[[ "$docs" =~ ^[0-9]+$ ]] && [ "$docs" -ge 6 ] || fail "documents count '$docs', expected 6 or more"
grep -q "<tr data-peer=\"$ID_B\" data-state=\"connected\">" "$WORK/live.html" || fail "peer $ID_B is not shown connected"
grep -q "title=\"$ID_B\">${ID_B:0:15}" "$WORK/live.html" || fail "the peer's ID is not shown in its row"
bytes_in=$({ grep -o "<tr data-peer=\"$ID_B\".*</tr>" "$WORK/live.html" || true; } | { grep -o 'data-label="In" class="num" data-value="[0-9]*"' || true; } | { grep -o '[0-9]*' || true; } | tail -1)
[ "${bytes_in:-0}" -gt 0 ] || fail "the peer's bytes in are not shown (got '${bytes_in:-}')"
grep -q 'data-path="knowledge/k1/title"' "$WORK/live.html" || fail "the conflict knowledge/k1/title is not listed"
grep -q '"page-test-from-a"' "$WORK/live.html" && grep -q '"page-test-from-b"' "$WORK/live.html" || fail "the conflict's two values are not shown"
[ "$(text_of conflict-count)" = 1 ] || fail "the conflict count is '$(text_of conflict-count)'"
for tile in local remote sent bin bout msgs; do
    [[ "$(attr_of "rate-$tile" data-value)" =~ ^[0-9]+\.[0-9]+$ ]] || fail "throughput tile $tile has no rate (two polls of /metrics expected)"
done
if grep -q '\[object ' "$WORK/live.html"; then fail "the page shows '[object …]'"; fi
if grep -q "$TOKEN" "$WORK/live.html"; then fail "the token appears in the DOM"; fi
ok "the page shows node $ID_A, $docs documents, peer ${ID_B:0:7} connected ($bytes_in bytes in), the conflict, throughput"

# --- 4. without a token: the form; with a wrong one: the 401 message ----------------------------
chrome_dom none "$BASE/" >"$WORK/none.html" || fail "chromium could not load the page without a token"
grep -q '<section class="card" id="login">' "$WORK/none.html" || fail "without a token the token form is not shown"
grep -q 'id="token-form"' "$WORK/none.html" && grep -q 'api.token' "$WORK/none.html" || fail "the token form does not say where the token is"
grep -q '<main id="dash" hidden' "$WORK/none.html" || fail "without a token the dashboard is shown"
if grep -q "$ID_A" "$WORK/none.html"; then fail "without a token the page shows node data"; fi
chrome_dom wrong "$BASE/#token=00000000000000000000000000000000" >"$WORK/wrong.html" || fail "chromium could not load the page"
grep -o 'id="login-error"[^>]*>[^<]*' "$WORK/wrong.html" | grep -q '401' || fail "a wrong token does not show the 401 message"
ok "no token: the form (naming DATA/api.token); a wrong token: the 401 message"

# --- 5. a PNG ------------------------------------------------------------------------------------
bash "$RENDER" "$BASE/" "$TOKEN" "$WORK/page.png" 1200x860 2>>"$WORK/chromium.log" || fail "render.sh failed"
[ "$(head -c 8 "$WORK/page.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "render.sh did not write a PNG"
read -r w0 w1 w2 w3 h0 h1 h2 h3 < <(od -An -tu1 -j16 -N8 "$WORK/page.png")
width=$(((w0 << 24) | (w1 << 16) | (w2 << 8) | w3))
height=$(((h0 << 24) | (h1 << 16) | (h2 << 8) | h3))
size=$(wc -c <"$WORK/page.png")
[ "$width" = 1200 ] && [ "$height" = 860 ] || fail "the PNG is ${width}x${height}, expected 1200x860"
[ "$size" -gt 30000 ] || fail "the PNG is only $size bytes (a blank page?)"
[ -n "${PAGE_PNG:-}" ] && cp "$WORK/page.png" "$PAGE_PNG" && say "PNG copied to $PAGE_PNG"
ok "render.sh wrote a ${width}x${height} PNG ($size bytes)"

# --- the nodes stop cleanly ----------------------------------------------------------------------
for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${PIDS[@]}"; do wait "$pid" || fail "a node exited with status $? on SIGTERM"; done
PIDS=()
say "passed"
