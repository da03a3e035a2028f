#!/bin/sh
# pg-test.sh - a throwaway PostgreSQL server for tests and benchmarks.
#
#   pg-test.sh start [--durable]   start one; prints its directory
#   pg-test.sh url DIR             print its URL (postgresql://...)
#   pg-test.sh stop DIR            stop it and delete DIR
#   pg-test.sh pause DIR           stop the server, keeping DIR (a store
#                                  outage in a test)
#   pg-test.sh resume DIR          start it again on the same port
#   pg-test.sh run [--durable] CMD [ARG...]
#                                  start one, run CMD with DTO_TEST_PG_URL
#                                  set, stop it (also when CMD fails or is
#                                  interrupted); exits with CMD's status
#
# The server lives in a new temporary directory (initdb), listens on
# 127.0.0.1 only, on a free port, with trust authentication for the local
# test user "dto" (nothing else can reach it from outside the machine).
# Started as root, it runs as an unprivileged user: "postgres" when that
# user exists, else a system user "dtotest" created for the purpose.  For
# speed, fsync is off unless --durable is given (benchmarks use it).
# Debian's binaries are found in /usr/lib/postgresql/*/bin.
set -eu

die() { echo "pg-test.sh: $*" >&2; exit 1; }

bindir() {
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] ||
    die "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
  echo "$d"
}

# The user the server runs as, and a way to run a command as that user.
run_as_user=""
pick_user() {
  if [ "$(id -u)" != 0 ]; then
    run_as_user=""
    return
  fi
  if id postgres >/dev/null 2>&1; then
    run_as_user=postgres
  else
    if ! id dtotest >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin dtotest ||
        die "cannot create the system user dtotest"
    fi
    run_as_user=dtotest
  fi
}

as_user() {
  if [ -n "$run_as_user" ]; then
    runuser -u "$run_as_user" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start() {
  durable=off
  [ "${1:-}" = --durable ] && durable=on
  bin=$(bindir)
  pick_user
  dir=$(mktemp -d "${TMPDIR:-/tmp}/dto-pg.XXXXXX")
  chmod 0755 "$dir"
  [ -n "$run_as_user" ] && chown "$run_as_user" "$dir"
  if ! as_user "$bin/initdb" -D "$dir/data" -U dto --auth=trust -E UTF8 \
    --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    die "initdb failed"
  fi
  tries=0
  while :; do
    port=$(free_port)
    cat >>"$dir/data/postgresql.conf" <<EOF
# pg-test.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
fsync = $durable
full_page_writes = $durable
synchronous_commit = on
log_min_messages = warning
EOF
    if as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      start >/dev/null 2>&1; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 3 ]; then
      cat "$dir/server.log" >&2 2>/dev/null || true
      rm -rf "$dir"
      die "the server did not start"
    fi
  done
  echo "postgresql://dto@127.0.0.1:$port/postgres" >"$dir/url"
  echo "$dir"
}

stop() {
  dir=$1
  [ -f "$dir/url" ] || die "$dir: not a pg-test.sh directory"
  bin=$(bindir)
  pick_user
  as_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

pause() {
  dir=$1
  [ -f "$dir/url" ] || die "$dir: not a pg-test.sh directory"
  bin=$(bindir)
  pick_user
  as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
    die "the server did not stop"
}

resume() {
  dir=$1
  [ -f "$dir/url" ] || die "$dir: not a pg-test.sh directory"
  bin=$(bindir)
  pick_user
  as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    start >/dev/null 2>&1 || die "the server did not start again"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
start)
  start "$@"
  ;;
url)
  [ $# -eq 1 ] || die "usage: pg-test.sh url DIR"
  cat "$1/url"
  ;;
stop)
  [ $# -eq 1 ] || die "usage: pg-test.sh stop DIR"
  stop "$1"
  ;;
pause | resume)
  [ $# -eq 1 ] || die "usage: pg-test.sh $cmd DIR"
  "$cmd" "$1"
  ;;
run)
  opt=""
  if [ "${1:-}" = --durable ]; then
    opt=--durable
    shift
  fi
  [ $# -ge 1 ] || die "usage: pg-test.sh run [--durable] CMD [ARG...]"
  dir=$(start $opt)
  trap 'stop "$dir"' EXIT
  trap 'exit 130' INT TERM
  DTO_TEST_PG_URL=$(cat "$dir/url")
  export DTO_TEST_PG_URL
  echo "pg-test.sh: PostgreSQL at $DTO_TEST_PG_URL" >&2
  status=0
  "$@" || status=$?
  exit "$status"
  ;;
*)
  die "usage: pg-test.sh start|url|stop|run (see the comment at the top)"
  ;;
esac
