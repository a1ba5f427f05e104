#!/usr/bin/env bash
# Loopback HTTP load test over real HTTP, driven by wrk (`apt-get install -y wrk`), of
# servers running side by side (the `serve` and `serve-bare` modes of
# tests/benches/auth_overhead.rs, release build):
#   bare      Rocket alone, the same handler (the limit of the machine)
#   sqlite-0  the project on SQLite without the auth cache, sqlite-1 with it
#   pg-0      the project on PostgreSQL without the auth cache, pg-1 with it (only when
#             SECURITY_TEST_POSTGRES_URL is set)
#   my-0      the project on MariaDB without the auth cache, my-1 with it (only when
#             SECURITY_TEST_MYSQL_URL is set)
# and on each project server the same handler unprotected (open), token-protected,
# session-protected, and stacked (/bench/admin: auth_required + roles_required, as the
# test app's /admin). The /bench routes rank first, as bare Rocket's only route does.
#
#   scripts/load.sh                                  # defaults below
#   ROUNDS=5 DURATION=10s CONNS="1 16 64" scripts/load.sh
#   USERS=100000 ROLES=20 scripts/load.sh            # users in the table, roles of the user
#   SERVERS="bare my-0 my-1" scripts/load.sh         # some servers only
#   BENCH_BIN=/tmp/old-auth_overhead scripts/load.sh # another build's bench binary
#   TOKEN_PAYLOAD=compressed scripts/load.sh         # or plain: the token's kind (any)
#   SERVERS="bare bare@jemalloc sqlite-1 sqlite-1@jemalloc" scripts/load.sh
#                                                    # @jemalloc: that server runs with
#                                                    # Debian's libjemalloc2 preloaded
#                                                    # (LD_PRELOAD) instead of glibc's
#                                                    # malloc; its ÷ bare is against
#                                                    # bare@jemalloc
#   CASES="open token me" scripts/load.sh            # some cases only (me: /bench/me,
#                                                    # token, the handler takes CurrentUser;
#                                                    # cookie: the unprotected route sent the
#                                                    # session cookie, which Rocket parses
#                                                    # before any guard runs)
#
# Each round runs every (server, case, connections) once, interleaved; the tables report
# the median req/s and the median of per-round ratios. Every run must answer 2xx only
# (a token that expired mid-run would turn into redirects that wrk counts as done).
# wrk (1 thread) and the servers share the machine; the load average is printed.
# Each run also reads the server's CPU time (user + system, /proc/PID/stat) before and
# after: "µs/req" is the server's CPU per request, less noisy than req/s, since a
# loaded machine slows both alike (wrk's own time is not in it).
set -euo pipefail
# Relative to where the script was called from.
[ -n "${BENCH_BIN:-}" ] && BENCH_BIN=$(realpath "$BENCH_BIN")
cd "$(dirname "$0")/.."

PORT=${BENCH_PORT:-8765}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-16}
USERS=${USERS:-100}
ROLES=${ROLES:-1}
TOKEN_PAYLOAD=${TOKEN_PAYLOAD:-any}

read -r -a CASES <<<"${CASES:-open token session admin}"
for c in "${CASES[@]}"; do
    case $c in open | cookie | token | me | session | admin) ;; *) echo "unknown case: $c" >&2; exit 1 ;; esac
done
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq not found" >&2; exit 1; }

BIN=${BENCH_BIN:-$(cargo bench -p security-tests --bench auth_overhead --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .target.name == "auth_overhead" and .executable != null) | .executable' |
    tail -n1)}
[ -f "$BIN" ] && [ -x "$BIN" ] || { echo "bench binary not built: $BIN" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ -n "${SERVERS:-}" ]; then
    read -r -a SERVERS <<<"$SERVERS"
else
    SERVERS=(bare sqlite-0 sqlite-1)
    [ -n "${SECURITY_TEST_POSTGRES_URL:-}" ] && SERVERS+=(pg-0 pg-1)
    [ -n "${SECURITY_TEST_MYSQL_URL:-}" ] && SERVERS+=(my-0 my-1)
fi
declare -A BASE TOKEN SESSION PID
wanted() { [ "$TOKEN_PAYLOAD" = any ] || [ "$TOKEN_PAYLOAD" = "$kind" ]; } # the last token's kind
JEMALLOC=/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2
is_bare() { [ "${1%@*}" = bare ]; } # bare Rocket, whatever its allocator
p=$PORT
for s in "${SERVERS[@]}"; do
    BASE[$s]="http://127.0.0.1:$p"
    name=${s%@*} preload=
    case $s in
    *@jemalloc)
        [ -f "$JEMALLOC" ] || { echo "$JEMALLOC not found: apt-get install -y libjemalloc2" >&2; exit 1; }
        preload=$JEMALLOC
        ;;
    *@*) echo "unknown allocator: $s" >&2; exit 1 ;;
    esac
    case $name in
    bare) LD_PRELOAD=$preload BENCH_PORT=$p "$BIN" serve-bare >"$WORK/$s.log" 2>&1 & ;;
    *)
        case ${name%-*} in pg) backend=postgres ;; my) backend=mysql ;; *) backend=sqlite ;; esac
        LD_PRELOAD=$preload BENCH_PORT=$p BENCH_BACKEND=$backend BENCH_AUTH_CACHE=${name#*-} \
            BENCH_USERS=$USERS BENCH_ROLES=$ROLES BENCH_TOKEN_PAYLOAD=$TOKEN_PAYLOAD \
            "$BIN" serve >"$WORK/$s.log" 2>&1 &
        ;;
    esac
    PIDS+=($!)
    PID[$s]=$!
    p=$((p + 1))
done

for s in "${SERVERS[@]}"; do
    for _ in $(seq 1 300); do
        curl -fs -o /dev/null "${BASE[$s]}/bench/open" && break
        sleep 0.2
    done
    curl -fs -o /dev/null "${BASE[$s]}/bench/open" || { cat "$WORK/$s.log" >&2; exit 1; }
    case $s in *@jemalloc) grep -q libjemalloc "/proc/${PID[$s]}/maps" || { echo "$s: jemalloc not loaded" >&2; exit 1; } ;; esac
    is_bare "$s" && continue
    # Log in as Flask-Security's JSON clients do: GET /login for the CSRF token, then POST.
    # A token's payload is zlib-compressed when that makes it shorter, which depends on
    # its random uniquifier (about one user in nine): with TOKEN_PAYLOAD, the server
    # gives the admin a uniquifier of that kind, and the time in the token may still
    # tip it, so sign-ins are repeated until one is.
    jar="$WORK/$s.cookies"
    for try in $(seq 1 200); do
        rm -f "$jar"
        csrf=$(curl -fs -c "$jar" -H 'Accept: application/json' "${BASE[$s]}/login" | jq -r .response.csrf_token)
        TOKEN[$s]=$(curl -fs -b "$jar" -c "$jar" -H 'Content-Type: application/json' \
            -d "{\"email\":\"admin@example.com\",\"password\":\"correct horse battery\",\"csrf_token\":\"$csrf\"}" \
            "${BASE[$s]}/login?include_auth_token" | jq -r .response.user.authentication_token)
        case ${TOKEN[$s]} in .*) kind=compressed ;; *) kind=plain ;; esac
        wanted && break
    done
    wanted || { echo "$s: no $TOKEN_PAYLOAD token in $try sign-ins" >&2; exit 1; }
    echo "$s: token payload $kind"
    SESSION[$s]=$(awk '$6 == "session" { print $7 }' "$jar")
    [ -n "${TOKEN[$s]}" ] && [ "${TOKEN[$s]}" != null ] && [ -n "${SESSION[$s]}" ] ||
        { echo "$s: login failed" >&2; exit 1; }
done

url() { case $1 in cookie) echo /bench/open ;; *) echo "/bench/$1" ;; esac; }
header() { # server case
    case $2 in
    open) echo "X-Bench: open" ;;
    token | me) echo "Authentication-Token: ${TOKEN[$1]}" ;;
    *) echo "Cookie: session=${SESSION[$1]}" ;;
    esac
}

# server -> its CPU clock ticks (utime + stime, the fields after the command's name)
ticks() { sed 's/.*) //' "/proc/${PID[$1]}/stat" | awk '{ print $12 + $13 }'; }
TICK=$(getconf CLK_TCK)
run() { # server case conns duration -> req/s, server CPU µs per request
    local out before after
    before=$(ticks "$1")
    out=$(wrk -t1 -c"$3" -d"$4" -H "$(header "$1" "$2")" "${BASE[$1]}$(url "$2")")
    after=$(ticks "$1")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "$1 $2: non-2xx responses" >&2
        echo "$out" >&2
        exit 1
    fi
    awk -v t=$((after - before)) -v hz="$TICK" \
        '/requests in/ { n = $1 } /Requests\/sec/ { r = $2 } END { printf "%s %.2f\n", r, t / hz / n * 1e6 }' <<<"$out"
}

each() { # calls "$@" server case for every measured pair
    for s in "${SERVERS[@]}"; do
        if is_bare "$s"; then "$@" "$s" open; else for c in "${CASES[@]}"; do "$@" "$s" "$c"; done; fi
    done
}
warm() { run "$1" "$2" 4 1s >/dev/null; }
each warm
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
    for n in $CONNS; do
        measure() {
            local v
            v=$(run "$1" "$2" "$n" "$DURATION") || exit 1
            echo "$r $n $1 $2 $v"
        }
        each measure
    done
done >"$WORK/results"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SERVERS[@]}"; do
    is_bare "$s" && continue
    echo "$s $(curl -fs "${BASE[$s]}/bench/stats")"
done >"$WORK/stats"

echo
echo "## wrk -t1, $ROUNDS rounds of $DURATION per case, $USERS users + 1, $ROLES role(s), nproc=$(nproc)"
echo
python3 - "$WORK/results" "$WORK/stats" "${CASES[*]}" <<'PY'
import statistics, sys
rate, cpu = {}, {}
for line in open(sys.argv[1]):
    r, n, server, case, v, us = line.split()
    rate.setdefault((int(n), server, case), {})[int(r)] = float(v)
    cpu.setdefault((int(n), server, case), []).append(float(us))
conns = sorted({k[0] for k in rate})
servers = []
for k in rate:
    if k[1] not in servers:
        servers.append(k[1])
def med_ratio(a, b):
    return statistics.median(rate[a][r] / rate[b][r] for r in rate[a])
for n in conns:
    print(f"### {n} connection(s)\n")
    print("| server | case | req/s (median) | ÷ same server open | ÷ bare Rocket | server CPU µs/req (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for s in servers:
        for case in dict.fromkeys(["open"] + sys.argv[3].split()):
            k = (n, s, case)
            if k not in rate:
                continue
            own = med_ratio(k, (n, s, "open")) if (n, s, "open") in rate else float("nan")
            # Against the bare Rocket of the same allocator (bare@jemalloc for x@jemalloc).
            b = (n, "bare" + s[s.index("@"):] if "@" in s else "bare", "open")
            bare = med_ratio(k, b) if b in rate else float("nan")
            print(f"| {s} | {case} | {statistics.median(rate[k].values()):.0f} | {own:.3f} | {bare:.3f} | {statistics.median(cpu[k]):.2f} |")
    print()
print("| server | cache hits | misses | hit rate | invalidations | change checks | by the WAL header | session cookies decrypted |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for line in open(sys.argv[2]):
    # An older build's bench binary (BENCH_BIN) reports fewer counters.
    s, h, m, i, *more = line.split()
    c, q, d = (more + ["-"] * 3)[:3]
    h, m = int(h), int(m)
    rate_ = h / (h + m) if h + m else 0.0
    print(f"| {s} | {h} | {m} | {rate_:.4f} | {i} | {c} | {q} | {d} |")
PY
