#!/usr/bin/env bash
# Load test of `facet serve` on loopback, in the family NAS mode, while a scan
# writes to the store:
#
#   benches/load.sh [DURATION_S] [CONNECTIONS]     (defaults: 20 s, 16)
#
# 1. `facet run` analyses ../shared/photos/cameras into a fresh store.
# 2. `facet serve` starts with two members (alice sees jpg/, bob sees the
#    rest) and alice logs in.
# 3. A baseline: wrk alone for DURATION_S. Then wrk (bounded by DURATION_S,
#    10 s per-request timeout) holds CONNECTIONS connections on alice's
#    gallery — a photo page with a filter and a sort, type counts, a
#    thumbnail, the timeline — while `facet run` scans
#    ../shared/photos/objects and ../shared/photos/faces into the same store.
# 4. Printed: wrk's requests per second and latency percentiles, the count of
#    non-2xx answers and socket errors (the test fails unless both are 0),
#    and whether the scan finished.
#
# Needs wrk (`apt-get install wrk`) and the built binary (`cargo build`, or
# FACET=path/to/facet). Uses the dev profile's binary unless told otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}"
CONNECTIONS="${2:-16}"
SHARED="${FACET_SHARED:-../shared}"
TARGET="${CARGO_TARGET_DIR:-target}"
FACET="${FACET:-$TARGET/debug/facet}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
[ -x "$FACET" ] || { echo "no facet binary at $FACET (cargo build)"; exit 2; }
[ -d "$SHARED/photos/cameras" ] || { echo "SKIPPED: $SHARED/photos is absent"; exit 0; }

WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
STORE="$WORK/store"
CAMERAS="$(cd "$SHARED/photos/cameras" && pwd)"
echo "== analysing $CAMERAS"
"$FACET" run --store "$STORE" --quiet "$CAMERAS" > "$WORK/run1.log" 2>&1 || { tail -20 "$WORK/run1.log"; exit 1; }

# Two members: alice's folder is jpg/, bob's the camera folder's other files.
echo "{}" > "$WORK/config.json"
HASH="$(printf 'alice password\n' | "$FACET" --config "$WORK/config.json" user add alice --role user >/dev/null && python3 -c "import json;print(json.load(open('$WORK/config.json'))['users']['alice']['password_hash'])")"
python3 - "$WORK/config.json" "$CAMERAS" <<'EOF'
import json, sys
path, cameras = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["users"]["alice"]["directories"] = [cameras + "/jpg"]
c["users"]["bob"] = dict(c["users"]["alice"], display_name="Bob", directories=[cameras + "/heic"])
json.dump(c, open(path, "w"), indent=2)
EOF
[ -n "$HASH" ]

"$FACET" --config "$WORK/config.json" serve --store "$STORE" --bind 127.0.0.1:0 > "$WORK/serve.log" 2>&1 &
for _ in $(seq 100); do grep -q "http://" "$WORK/serve.log" && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.:]*' "$WORK/serve.log" | head -1)"
echo "== serving on $URL"
COOKIE="$(curl -s -i -H 'Content-Type: application/json' -d '{"username":"alice","password":"alice password"}' "$URL/api/login" | grep -i '^set-cookie' | sed 's/^[^:]*: //; s/;.*//' | tr -d '\r')"
[ -n "$COOKIE" ] || { echo "login failed"; cat "$WORK/serve.log"; exit 1; }
THUMB="$(curl -s -H "Cookie: $COOKIE" "$URL/api/photos?per_page=1" | python3 -c 'import json,sys,urllib.parse;print(urllib.parse.quote(json.load(sys.stdin)["photos"][0]["path"]))')"

cat > "$WORK/mix.lua" <<EOF
local paths = {
  "/api/photos?per_page=64&sort=aggregate&dir=desc&min_score=1",
  "/api/type_counts",
  "/thumbnail?path=$THUMB",
  "/api/timeline",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], { ["Cookie"] = "$COOKIE" })
end
EOF

echo "== baseline: wrk ${DURATION}s at ${CONNECTIONS} connections, nothing writing"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s "$WORK/mix.lua" "$URL" | tee "$WORK/wrk0.txt"
echo "== scanning objects/ and faces/ into the same store while wrk runs ${DURATION}s at ${CONNECTIONS} connections"
( "$FACET" run --store "$STORE" --commit-every 4 --quiet "$SHARED/photos/objects" "$SHARED/photos/faces" > "$WORK/run2.log" 2>&1; echo "scan exit $?" >> "$WORK/run2.log" ) &
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s "$WORK/mix.lua" "$URL" | tee "$WORK/wrk.txt"
wait %2 2>/dev/null || true
echo "== scan: $(tail -1 "$WORK/run2.log")"
NON2XX="$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$WORK/wrk.txt" | grep -o '[0-9]*$' || echo 0)"
SOCKET="$(grep -o 'Socket errors:.*' "$WORK/wrk.txt" || true)"
echo "== non-2xx answers: $NON2XX; ${SOCKET:-socket errors: none}"
[ "$NON2XX" = 0 ] && [ -z "$SOCKET" ]
