#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, under target/postgres: `start` (initdb on first use,
# trust authentication, 127.0.0.1 on a free port) prints its base URL; `url` prints it again;
# `stop` stops the cluster (its files stay for the next start).
# Debian's postgresql package; as root, the server runs as the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/target/postgres"
data="$dir/data"
bin=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/pg_ctl" ] && bin="$d"
done
if [ -z "$bin" ]; then
  echo "postgres.sh: no PostgreSQL server (apt-get install postgresql)" >&2
  exit 1
fi
# The server runs as `postgres` when we are root: a checkout it cannot reach (under a home of
# mode 0700, say) gets its cluster under /tmp instead, named after the checkout.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$PWD/target" 2>/dev/null \
  && ! runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
  dir="/tmp/archfn-postgres-$(printf %s "$PWD" | cksum | cut -d' ' -f1)"
  data="$dir/data"
fi
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
url() {
  echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")"
}
case "${1:-}" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log"
    fi
    if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      url
      exit 0
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$port" >"$dir/port"
    as_pg "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=400" >/dev/null
    url
    ;;
  stop)
    if [ -f "$data/PG_VERSION" ]; then
      as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  url)
    url
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop|url" >&2
    exit 2
    ;;
esac
