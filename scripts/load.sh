#!/usr/bin/env bash
# Loopback HTTP load test: the same handler unprotected, token-protected and
# session-protected, plus the stacked /admin against the single-attribute /profile,
# served by a real Rocket server (the `serve` mode of tests/benches/auth_overhead.rs,
# release build, SQLite) and driven by wrk (`apt-get install -y wrk`).
#
#   scripts/load.sh                       # defaults below
#   ROUNDS=5 DURATION=10s CONNS=16 scripts/load.sh
#
# Each round runs every URL once, interleaved; the table reports the median req/s and
# the median of the per-round ratios. wrk (1 thread) and the server share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${BENCH_PORT:-8765}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-8}
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq not found" >&2; exit 1; }

BIN=$(cargo bench -p security-tests --bench auth_overhead --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .target.name == "auth_overhead" and .executable != null) | .executable' |
    tail -n1)
[ -x "$BIN" ] || { echo "bench binary not built" >&2; exit 1; }

WORK=$(mktemp -d)
BENCH_PORT=$PORT "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

for _ in $(seq 1 100); do
    curl -fs -o /dev/null "$BASE/bench/open" && break
    sleep 0.2
done
curl -fs -o /dev/null "$BASE/bench/open" || { cat "$WORK/server.log" >&2; exit 1; }

# Log in as Flask-Security's JSON clients do: GET /login for the CSRF token, then POST.
JAR="$WORK/cookies"
CSRF=$(curl -fs -c "$JAR" -H 'Accept: application/json' "$BASE/login" | jq -r .response.csrf_token)
TOKEN=$(curl -fs -b "$JAR" -c "$JAR" -H 'Content-Type: application/json' \
    -d "{\"email\":\"admin@example.com\",\"password\":\"correct horse battery\",\"csrf_token\":\"$CSRF\"}" \
    "$BASE/login?include_auth_token" | jq -r .response.user.authentication_token)
SESSION=$(awk '$6 == "session" { print $7 }' "$JAR")
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] && [ -n "$SESSION" ] || { echo "login failed" >&2; exit 1; }

NAMES=(open token session profile admin)
URLS=(/bench/open /bench/token /bench/session /profile /admin)
HEADERS=("X-Bench: open" "Authentication-Token: $TOKEN" "Cookie: session=$SESSION"
    "Cookie: session=$SESSION" "Cookie: session=$SESSION")

run() { # name url header duration -> req/s
    local out
    out=$(wrk -t1 -c"$CONNS" -d"$4" -H "$3" "$BASE$2")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "$1: non-2xx responses" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ { print $2 }' <<<"$out"
}

for i in "${!NAMES[@]}"; do # warm-up
    run "${NAMES[$i]}" "${URLS[$i]}" "${HEADERS[$i]}" 2s >/dev/null
done
for r in $(seq 1 "$ROUNDS"); do
    for i in "${!NAMES[@]}"; do
        echo "$r ${NAMES[$i]} $(run "${NAMES[$i]}" "${URLS[$i]}" "${HEADERS[$i]}" "$DURATION")"
    done
done >"$WORK/results"

echo "## wrk -t1 -c$CONNS, $ROUNDS rounds of $DURATION per URL, median (nproc=$(nproc))"
echo
python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
rate = {}
for r, name, v in rows:
    rate.setdefault(name, {})[int(r)] = float(v)
label = {
    "open": "GET /bench/open (unprotected)",
    "token": "GET /bench/token (auth_token_required)",
    "session": "GET /bench/session (auth_required(session))",
    "profile": "GET /profile (auth_required, session)",
    "admin": "GET /admin (auth_required + roles_required, session)",
}
print("| case | req/s (median) | min | max |")
print("|---|---:|---:|---:|")
for k, l in label.items():
    v = list(rate[k].values())
    print(f"| {l} | {statistics.median(v):.0f} | {min(v):.0f} | {max(v):.0f} |")
print()
print("| ratio (median of per-round ratios) | value |")
print("|---|---:|")
for a, b, l in [("token", "open", "token ÷ unprotected"),
                ("session", "open", "session ÷ unprotected"),
                ("admin", "profile", "/admin stacked ÷ /profile single")]:
    ratios = [rate[a][r] / rate[b][r] for r in rate[a]]
    print(f"| {l} | {statistics.median(ratios):.3f} |")
EOF
