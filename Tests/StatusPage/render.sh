#!/usr/bin/env bash
# Tests/StatusPage/render.sh URL TOKEN OUT.png [WIDTHxHEIGHT] — renders a node's status page in
# headless Chromium (Debian package `chromium`) to a PNG, after the page's script has fetched the
# figures from the API (virtual time: RENDER_BUDGET_MS, default 5000, i.e. two refreshes).
#   URL    the node's API, for example http://127.0.0.1:7947/ (a #fragment is replaced)
#   TOKEN  the API token (the content of DATA/api.token), or "" to render the token form
#   OUT    where to write the PNG
#   WIDTHxHEIGHT  the window, default 1280x900 (the screenshot is the window, not the full page)
# Example:
#   Tests/StatusPage/render.sh http://127.0.0.1:7947/ "$(cat ~/.lattice/api.token)" /tmp/status.png
# The token reaches Chromium in the URL's fragment, on its command line (visible in `ps` to other
# users of this machine while it runs); the fragment is never sent to the server.
# Exit 0: written; 1: Chromium failed or wrote no PNG; 2: usage; 77: Chromium is not installed.
set -euo pipefail

usage() { echo "usage: $0 URL TOKEN OUT.png [WIDTHxHEIGHT]" >&2; exit 2; }
[ "$#" -ge 3 ] && [ "$#" -le 4 ] || usage
URL=${1%%#*}
TOKEN=$2
OUT=$3
SIZE=${4:-1280x900}
[[ "$SIZE" =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "render.sh: WIDTHxHEIGHT like 1280x900 (got '$SIZE')" >&2; exit 2; }
WIDTH=${BASH_REMATCH[1]}
HEIGHT=${BASH_REMATCH[2]}
BUDGET=${RENDER_BUDGET_MS:-5000}

CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROME" ] || [ ! -x "$CHROME" ]; then
    echo "render.sh: headless Chromium is not installed: apt-get install chromium (./test.sh installs it), or set CHROMIUM=/path/to/chromium" >&2
    exit 77
fi

# The token in the fragment, percent-encoded (an API token is hex, but be safe).
encoded=""
for ((i = 0; i < ${#TOKEN}; i++)); do
    c=${TOKEN:i:1}
    case "$c" in
        [A-Za-z0-9._~-]) encoded+=$c ;;
        *) encoded+=$(printf '%%%02X' "'$c") ;;
    esac
done
[ -n "$TOKEN" ] && URL="$URL#token=$encoded"

PROFILE=$(mktemp -d /tmp/lattice-render.XXXXXX)
trap 'rm -rf "$PROFILE"' EXIT
rm -f "$OUT"
# --no-sandbox: Chromium's sandbox cannot run as root (CI and these machines run as root).
if ! timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
    --no-first-run --no-default-browser-check --disable-extensions --disable-background-networking \
    --user-data-dir="$PROFILE/profile" --window-size="$WIDTH,$HEIGHT" --virtual-time-budget="$BUDGET" \
    --screenshot="$OUT" "$URL" >"$PROFILE/chromium.log" 2>&1; then
    echo "render.sh: chromium failed; its output:" >&2
    tail -n 20 "$PROFILE/chromium.log" >&2
    exit 1
fi
if [ ! -s "$OUT" ] || [ "$(head -c 4 "$OUT" | od -An -tx1 | tr -d ' \n')" != "89504e47" ]; then
    echo "render.sh: chromium wrote no PNG to $OUT; its output:" >&2
    tail -n 20 "$PROFILE/chromium.log" >&2
    exit 1
fi
echo "render.sh: wrote $OUT (${WIDTH}x${HEIGHT}, $(wc -c <"$OUT") bytes)" >&2
