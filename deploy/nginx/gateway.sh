#!/bin/sh
# Renders deploy/nginx/gateway.conf and runs nginx with it. POSIX sh + awk: runs in the official nginx image, in
# the local Debian base, and on a host.
#
#   gateway.sh          run: render with the current addresses of the upstream names (Docker's DNS), start nginx,
#                       and every GATEWAY_RESOLVE_INTERVAL seconds re-render and reload nginx (gracefully: requests
#                       in flight finish on the old workers) when the addresses changed: a --scale, a replaced
#                       replica, one restarted with a new address. Open-source nginx resolves a `server name:port`
#                       only when it loads its configuration, and hashes by the server line, so every replica needs
#                       a line of its own.
#
# An address that leaves the DNS stays in the configuration for GATEWAY_HOLD seconds: a replica being restarted
# (docker restart, a rolling update) is gone from Docker's DNS for a moment and usually comes back with the same
# address, and a reload for that moment is not free: the old workers close every idle keep-alive connection of
# the clients, and a client whose next request was already on its way sees the connection drop without an answer
# (Go clients retry such a request, others fail). Meanwhile nginx finds the replica down by its refused connections
# (max_fails) and sends those reads to another.
#   gateway.sh render   print the rendered configuration (GATEWAY_SERVERS, or the DNS when unset)
#   gateway.sh check    the healthcheck: GET /healthz on the gateway answers 200 (perl: in both images; with TLS,
#                       on the plain listener of the container's loopback, GATEWAY_CHECK_PORT)
#
# Rendering: each `server <name>:<port> <parameters>;` line of the template whose <name> has addresses becomes one
# line per address, same parameters; `listen 8080;` becomes `listen $GATEWAY_LISTEN;` when that is set, and with
# TLS `listen ... ssl;` with the certificate and key, plus `listen 127.0.0.1:$GATEWAY_CHECK_PORT;` (plain, for the
# healthcheck only: nothing outside the container reaches its loopback); the `# GATEWAY_TOKEN_SERVICE` line gets
# the token service's address.
#
# Environment:
#   GATEWAY_TEMPLATE          the template (default: gateway.conf next to this script)
#   GATEWAY_PREFIX            nginx's prefix: rendered config, pid, temp directories (default /tmp/nginx)
#   GATEWAY_UPSTREAMS         the names to resolve (default "blob-read blob-write")
#   GATEWAY_SERVERS           instead of resolving: "name=addr[:port],addr[:port] name=..." (a host, tests)
#   GATEWAY_LISTEN            the listen address to render instead of 8080
#   GATEWAY_RESOLVE_INTERVAL  seconds between two resolutions (default 5)
#   GATEWAY_HOLD              seconds an address that left the DNS stays configured (default 30)
#   GATEWAY_PORT              the port the healthcheck connects to (default 8080)
#   GATEWAY_TLS_CERTIFICATE   TLS, when both are set: the certificate (PEM, chain after it) and its key, as nginx
#   GATEWAY_TLS_KEY           reads them (readable by the gateway's user)
#   GATEWAY_CHECK_PORT        with TLS: the plain loopback port of the healthcheck (default 8081)
#   GATEWAY_TOKEN_SERVICE     host:port of the token service that /token is proxied to (default none: 404)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
TEMPLATE=${GATEWAY_TEMPLATE:-$here/gateway.conf}
PREFIX=${GATEWAY_PREFIX:-/tmp/nginx}
UPSTREAMS=${GATEWAY_UPSTREAMS:-blob-read blob-write}
INTERVAL=${GATEWAY_RESOLVE_INTERVAL:-5}
HOLD=${GATEWAY_HOLD:-30}
PORT=${GATEWAY_PORT:-8080}
TLS_CERTIFICATE=${GATEWAY_TLS_CERTIFICATE:-}
TLS_KEY=${GATEWAY_TLS_KEY:-}
CHECK_PORT=${GATEWAY_CHECK_PORT:-8081}
if [ -n "$TLS_CERTIFICATE" ] || [ -n "$TLS_KEY" ]; then
  if [ -z "$TLS_CERTIFICATE" ] || [ -z "$TLS_KEY" ]; then
    echo "gateway: TLS needs both GATEWAY_TLS_CERTIFICATE and GATEWAY_TLS_KEY" >&2
    exit 2
  fi
  PORT=$CHECK_PORT # the healthcheck's
fi

log() { echo "gateway: $*" >&2; }

servers() { # "name=addr,addr name=addr..." from GATEWAY_SERVERS or the resolver
  if [ -n "${GATEWAY_SERVERS:-}" ]; then
    echo "$GATEWAY_SERVERS"
    return
  fi
  for name in $UPSTREAMS; do
    printf '%s=%s ' "$name" "$(getent ahostsv4 "$name" | awk '{print $1}' | sort -u | paste -sd, -)"
  done
  echo
}

remember() { # $1: what was seen ("name=addr@time,... ..."), $2: servers now; the addresses seen within HOLD seconds
  clock=$(date +%s)
  printf '%s\n%s\n' "$1" "$2" | awk -v now="$clock" -v hold="$HOLD" '
    {
      for (i = 1; i <= NF; i++) {
        eq = index($i, "=")
        if (eq < 2) continue
        name = substr($i, 1, eq - 1)
        print name                                # a name stays listed when it has no address
        m = split(substr($i, eq + 1), list, ",")
        for (j = 1; j <= m; j++) {
          at = index(list[j], "@")                # "@time" in what was seen; none in what resolves now
          seen = at ? substr(list[j], at + 1) : now
          if (now - seen <= hold) print name, (at ? substr(list[j], 1, at - 1) : list[j]), seen
        }
      }
    }' | sort -k1,1 -k2,2 -k3,3nr | awk '
    $1 != name { if (name != "") printf "%s ", entry; name = $1; entry = name "="; sep = ""; addr = "" }
    NF == 3 && $2 != addr { entry = entry sep $2 "@" $3; sep = ","; addr = $2 }
    END { if (name != "") print entry }'
}

addresses() { # $1: what remember printed; the servers, without the times
  echo "$1" | sed 's/@[0-9]*//g'
}

render() { # $1: servers; the rendered template on stdout; fails when a name has no address
  awk -v servers="$1" -v listen="${GATEWAY_LISTEN:-}" -v certificate="$TLS_CERTIFICATE" -v key="$TLS_KEY" \
    -v check_port="$CHECK_PORT" -v token="${GATEWAY_TOKEN_SERVICE:-}" '
    BEGIN {
      n = split(servers, entries, " ")
      for (i = 1; i <= n; i++) {
        eq = index(entries[i], "=")
        if (eq > 1) addresses[substr(entries[i], 1, eq - 1)] = substr(entries[i], eq + 1)
      }
    }
    /^[ \t]*listen[ \t]+8080[ \t]*;/ {
      if (listen != "") sub(/8080/, listen)
      if (certificate != "") {
        match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH)
        sub(/;/, " ssl;")
        print
        print indent "listen 127.0.0.1:" check_port ";"
        print indent "ssl_certificate " certificate ";"
        print indent "ssl_certificate_key " key ";"
        next
      }
      print
      next
    }
    token != "" && /# GATEWAY_TOKEN_SERVICE$/ { sub(/""/, "\"" token "\"") }
    /^[ \t]*server[ \t]+[A-Za-z0-9._-]+:[0-9]+[ \t;]/ {
      target = $2; sub(/;$/, "", target)
      colon = index(target, ":"); host = substr(target, 1, colon - 1); port = substr(target, colon + 1)
      if (host in addresses) {
        match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH)
        rest = $0; sub(/^[ \t]*server[ \t]+[^ \t;]+/, "", rest)
        m = split(addresses[host], list, ",")
        if (m == 0) missing = missing " " host
        for (j = 1; j <= m; j++) print indent "server " (index(list[j], ":") ? list[j] : list[j] ":" port) rest
        next
      }
    }
    { print }
    END { if (missing != "") { print "gateway: no address for" missing > "/dev/stderr"; exit 1 } }
  ' "$TEMPLATE"
}

case "${1:-run}" in
  run) ;;
  render)
    render "$(servers)"
    exit
    ;;
  check)
    exec perl -MIO::Socket::INET -e '
      my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]", Timeout => 3) or exit 1;
      print $s "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
      my $status = <$s>;
      exit(defined $status && $status =~ m{^HTTP/1\.[01] 200 } ? 0 : 1);' "$PORT"
    ;;
  *)
    echo "usage: $0 [run|render|check]" >&2
    exit 2
    ;;
esac

mkdir -p "$PREFIX"
ln -sf /dev/stdout "$PREFIX/access.log"
conf="$PREFIX/gateway.conf"
nginx_() { nginx -p "$PREFIX/" -e stderr "$@"; }

seen=$(remember "" "$(servers)")
known=$(addresses "$seen")
render "$known" >"$conf"
log "upstreams: $known"
# Not through nginx_: a function run in the background is a subshell, and $! would be the subshell, which ignores
# QUIT (as every background job of a non-interactive shell does), so the graceful stop below would never arrive.
nginx -p "$PREFIX/" -e stderr -c "$conf" -g 'daemon off;' &
nginx_pid=$!
# docker stop sends TERM: stop gracefully (QUIT lets requests in flight finish); the loop then sees nginx gone.
trap 'kill -QUIT "$nginx_pid" 2>/dev/null || true' TERM INT QUIT

while kill -0 "$nginx_pid" 2>/dev/null; do
  sleep "$INTERVAL" &
  wait $! 2>/dev/null || true # a signal interrupts the wait
  kill -0 "$nginx_pid" 2>/dev/null || break
  seen=$(remember "$seen" "$(servers)")
  now=$(addresses "$seen")
  [ "$now" = "$known" ] && continue
  # A name without addresses (scaled to 0, every replica restarting) fails: keep the running configuration.
  if render "$now" >"$conf.next" && nginx_ -c "$conf.next" -t -q; then
    mv "$conf.next" "$conf"
    log "upstreams changed, reloading: $now"
    nginx_ -c "$conf" -s reload
    known=$now
  fi
done
status=0
wait "$nginx_pid" || status=$?
exit "$status"
