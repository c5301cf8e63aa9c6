#!/usr/bin/env bash
# Throwaway PostgreSQL + Redis servers for tests and benchmarks.
#
# Usage:
#   scripts/services.sh start DIR   start both servers (state lives in DIR), print DIR/env
#   scripts/services.sh stop DIR    stop both servers and delete their data
#   scripts/services.sh status DIR  exit 0 if both servers are running
#
# After `start`, `. DIR/env` exports:
#   INTERNET10_TEST_POSTGRES_URL  postgresql+asyncpg://postgres@127.0.0.1:PORT/internet10_test
#   INTERNET10_TEST_REDIS_URL     redis://127.0.0.1:PORT/0
# plus INTERNET10_SERVICES_* bookkeeping variables used by `stop`.
#
# The servers listen on 127.0.0.1 only, on free ports picked at start, and are
# tuned for speed, not durability (fsync=off, no Redis persistence).  Nothing
# here uses systemd or the Debian cluster tools.  PostgreSQL refuses to run as
# root, so when invoked as root its programs run as the `postgres` user.
#
# Optional environment:
#   INTERNET10_SERVICES_TIMEOUT  seconds to wait for each server (default 30)
#   INTERNET10_PG_BINDIR         PostgreSQL bin dir (default: newest /usr/lib/postgresql/*/bin)
set -euo pipefail

PROG=${0##*/}
TIMEOUT=${INTERNET10_SERVICES_TIMEOUT:-30}
PG_USER=postgres          # OS user that runs the server when we are root
PG_DB=internet10_test
PG_MAX_CONNECTIONS=300

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    echo "usage: $PROG {start|stop|status} DIR" >&2
    exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Single-quote a value for POSIX sh (the env file is sourced by make's shell too).
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# pid_is PID NAME: PID is alive and runs program NAME.  Guards against stale pid
# files whose pid now belongs to something else (e.g. after a reboot).
pid_is() {
    pid_alive "$1" || return 1
    [ -r "/proc/$1/comm" ] || return 0
    case $(cat "/proc/$1/comm" 2>/dev/null) in "$2"*) return 0 ;; *) return 1 ;; esac
}

# Run a command as the PostgreSQL OS user (only switches user when root).
# cd / first so the server tools never trip over an unreadable cwd such as /root.
as_pg() {
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$PG_USER" -- "$@")
        else
            local q="" a
            for a in "$@"; do q+=" $(shquote "$a")"; done
            (cd / && su -s /bin/sh "$PG_USER" -c "exec$q")
        fi
    else
        (cd / && "$@")
    fi
}

# --------------------------------------------------------------------------
# Binaries
# --------------------------------------------------------------------------

find_pg_bindir() {
    if [ -n "${INTERNET10_PG_BINDIR:-}" ]; then
        echo "$INTERNET10_PG_BINDIR"
        return 0
    fi
    local d
    # Newest major version first.
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -rn); do
        if [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done
    # Other layouts (e.g. a PATH-installed build).
    if command -v pg_ctl >/dev/null 2>&1; then
        d=$(dirname "$(command -v pg_ctl)")
        if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then
            echo "$d"
            return 0
        fi
    fi
    echo ""
}

have_binaries() {
    local bindir
    bindir=$(find_pg_bindir)
    [ -n "$bindir" ] && [ -x "$bindir/pg_isready" ] && [ -x "$bindir/createdb" ] \
        && command -v redis-server >/dev/null 2>&1 \
        && command -v redis-cli >/dev/null 2>&1
}

install_binaries() {
    log "PostgreSQL and/or Redis not found; installing postgresql redis-server with apt-get"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not available; install PostgreSQL and Redis manually"
    # Keep the packages' maintainer scripts from starting the distro services
    # (no systemd here, and we start our own throwaway servers anyway).
    local policy=/usr/sbin/policy-rc.d created_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-upgrade \
            postgresql redis-server
    } >&2 || rc=$?
    [ -n "$created_policy" ] && rm -f "$policy"
    [ "$rc" -eq 0 ] || die "apt-get install postgresql redis-server failed (exit $rc)"
}

ensure_binaries() {
    have_binaries && return 0
    if is_root; then
        install_binaries
        have_binaries || die "PostgreSQL/Redis still missing after apt-get install"
    else
        die "PostgreSQL server and/or redis-server not installed. As root run:
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql redis-server
(or run this script as root, which installs them automatically)"
    fi
    if is_root; then
        id "$PG_USER" >/dev/null 2>&1 || die "OS user '$PG_USER' does not exist (needed to run PostgreSQL as root)"
    fi
}

# Print N distinct free TCP ports on 127.0.0.1.
free_ports() {
    command -v python3 >/dev/null 2>&1 || die "python3 is required to pick free ports"
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------

# Load DIR/env (if any) into S_* variables; return 1 when there is none.
load_state() {
    S_PG_BINDIR="" S_PG_DATA="" S_PG_PORT="" S_PG_TMPROOT="" S_REDIS_PORT="" S_REDIS_PIDFILE=""
    [ -f "$DIR/env" ] || return 1
    # Sourced in a subshell so it cannot clobber our own variables.
    local out
    out=$(
        set +u
        # shellcheck disable=SC1091
        . "$DIR/env" >/dev/null 2>&1 || true
        printf '%s\n' \
            "$INTERNET10_SERVICES_PG_BINDIR" "$INTERNET10_SERVICES_PG_DATA" "$INTERNET10_SERVICES_PG_PORT" \
            "$INTERNET10_SERVICES_PG_TMPROOT" "$INTERNET10_SERVICES_REDIS_PORT" \
            "$INTERNET10_SERVICES_REDIS_PIDFILE"
    )
    {
        IFS= read -r S_PG_BINDIR; IFS= read -r S_PG_DATA
        IFS= read -r S_PG_PORT; IFS= read -r S_PG_TMPROOT; IFS= read -r S_REDIS_PORT
        IFS= read -r S_REDIS_PIDFILE
    } <<<"$out" || true
    return 0
}

pg_pid() {  # postmaster pid from its pid file (first line), if any
    local data=$1
    [ -n "$data" ] || return 0
    head -n1 "$data/postmaster.pid" 2>/dev/null || true
}

redis_pid() {
    local pidfile=$1
    [ -n "$pidfile" ] && [ -f "$pidfile" ] && head -n1 "$pidfile" 2>/dev/null || true
}

services_running() {
    load_state || return 1
    pid_is "$(pg_pid "$S_PG_DATA")" postgres && pid_is "$(redis_pid "$S_REDIS_PIDFILE")" redis || return 1
    [ -n "$S_PG_BINDIR" ] && "$S_PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$S_PG_PORT" -t 2 || return 1
    [ "$(redis-cli -h 127.0.0.1 -p "$S_REDIS_PORT" ping 2>/dev/null)" = PONG ] || return 1
}

# --------------------------------------------------------------------------
# Stop
# --------------------------------------------------------------------------

wait_gone() {  # wait_gone PID SECONDS
    local pid=$1 i
    for ((i = 0; i < $2 * 10; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    return 1
}

stop_postgres() {
    local data=${S_PG_DATA:-$DIR/pg/data} bindir=${S_PG_BINDIR:-} pid
    pid=$(pg_pid "$data")
    if pid_is "$pid" postgres; then
        [ -n "$bindir" ] || bindir=$(find_pg_bindir)
        if [ -n "$bindir" ]; then
            as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t "$TIMEOUT" stop >/dev/null 2>&1 || true
        fi
        if pid_alive "$pid"; then
            kill -INT "$pid" 2>/dev/null || true   # SIGINT = fast shutdown
            wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
        fi
        wait_gone "$pid" 5 || log "warning: PostgreSQL (pid $pid) is still running"
    fi
}

stop_redis() {
    local pidfile=${S_REDIS_PIDFILE:-$DIR/redis.pid} pid
    pid=$(redis_pid "$pidfile")
    if pid_is "$pid" redis; then
        if [ -n "${S_REDIS_PORT:-}" ] && command -v redis-cli >/dev/null 2>&1; then
            redis-cli -h 127.0.0.1 -p "$S_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        fi
        wait_gone "$pid" 5 || kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || log "warning: Redis (pid $pid) is still running"
    fi
}

remove_state() {
    # Only remove what we created: DIR itself may be something the caller cares about.
    rm -rf "$DIR/pg"
    if [ -n "${S_PG_TMPROOT:-}" ] && [ -d "$S_PG_TMPROOT" ]; then
        case $S_PG_TMPROOT in /tmp/internet10-pg.*) rm -rf "$S_PG_TMPROOT" ;; esac
    fi
    rm -f "$DIR/env" "$DIR/redis.pid" "$DIR/redis.log" "$DIR/dump.rdb" "$DIR/pg-tmproot"
    rmdir "$DIR" 2>/dev/null || true
}

do_stop() {
    [ -d "$DIR" ] || return 0
    load_state || true
    # An interrupted start may have left a tmp root but no env file.
    if [ -z "$S_PG_TMPROOT" ] && [ -f "$DIR/pg-tmproot" ]; then
        S_PG_TMPROOT=$(cat "$DIR/pg-tmproot")
        S_PG_DATA=$S_PG_TMPROOT/data
    fi
    stop_postgres
    stop_redis
    remove_state
}

# `stop` must never fail loudly: run without errexit and just warn.
do_stop_cmd() {
    set +e
    do_stop
    return 0
}

# --------------------------------------------------------------------------
# Start
# --------------------------------------------------------------------------

tail_log() {  # tail_log FILE: last lines of a server log, to stderr
    local f=$1
    log "---- last lines of $f ----"
    tail -n 30 "$f" >&2 2>/dev/null || true
    log "----"
}

# Decide where PostgreSQL's files live: DIR/pg when the postgres user can reach
# it, else a private directory in /tmp (e.g. DIR under /root, which is 0700).
# Unix socket paths are limited to ~107 bytes, which long DIRs can also exceed.
setup_pg_root() {
    PG_ROOT=$DIR/pg
    PG_TMPROOT=""
    mkdir -p "$PG_ROOT"
    chmod 700 "$PG_ROOT"
    if is_root; then
        chown "$PG_USER:" "$PG_ROOT"
    fi
    if ! as_pg test -w "$PG_ROOT" -a -x "$PG_ROOT" 2>/dev/null || [ ${#PG_ROOT} -gt 80 ]; then
        rmdir "$PG_ROOT" 2>/dev/null || rm -rf "$PG_ROOT"
        PG_TMPROOT=$(mktemp -d /tmp/internet10-pg.XXXXXXXX)
        chmod 700 "$PG_TMPROOT"
        is_root && chown "$PG_USER:" "$PG_TMPROOT"
        printf '%s\n' "$PG_TMPROOT" >"$DIR/pg-tmproot"
        PG_ROOT=$PG_TMPROOT
        log "note: $DIR/pg is not writable by the PostgreSQL user or too long for a Unix socket; PostgreSQL data goes to $PG_ROOT"
    fi
    PG_DATA=$PG_ROOT/data
    PG_LOG=$PG_ROOT/postgres.log
}

init_postgres() {
    local locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 \
        --locale="$locale" --no-sync >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        die "initdb failed"
    }
    rm -f "$DIR/initdb.log"
    # shellcheck disable=SC2016  # $1 is expanded by the inner sh
    as_pg sh -c 'cat >>"$1"' sh "$PG_DATA/postgresql.conf" <<EOF

# ---- added by scripts/services.sh (throwaway test server) ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_ROOT'
max_connections = $PG_MAX_CONNECTIONS
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
}

# Start postgres on $1; return 1 if it did not come up (caller may retry).
start_postgres() {
    local port=$1 i
    as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $port" \
        -w -t "$TIMEOUT" start >/dev/null 2>&1 9<&- || return 1
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1 && return 0
        sleep 0.1
    done
    return 1
}

start_redis() {
    local port=$1 pid i
    rm -f "$DIR/redis.pid"
    redis-server --bind 127.0.0.1 --port "$port" \
        --save '' --appendonly no --daemonize yes \
        --pidfile "$DIR/redis.pid" --dir "$DIR" --logfile "$DIR/redis.log" \
        >/dev/null 2>&1 9<&- || return 1
    for ((i = 0; i < TIMEOUT * 10; i++)); do
        [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        # Daemonized redis reports bind errors only in its log; give up early if it died.
        if ((i > 10)); then
            pid=$(redis_pid "$DIR/redis.pid")
            pid_alive "$pid" || return 1
        fi
        sleep 0.1
    done
    return 1
}

write_env() {
    local tmp=$DIR/env.tmp
    {
        echo "# Written by scripts/services.sh start; source with: . $(shquote "$DIR/env")"
        echo "export INTERNET10_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/$PG_DB"
        echo "export INTERNET10_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
        echo "# Bookkeeping for scripts/services.sh stop:"
        echo "export INTERNET10_SERVICES_DIR=$(shquote "$DIR")"
        echo "export INTERNET10_SERVICES_PG_BINDIR=$(shquote "$PG_BINDIR")"
        echo "export INTERNET10_SERVICES_PG_ROOT=$(shquote "$PG_ROOT")"
        echo "export INTERNET10_SERVICES_PG_DATA=$(shquote "$PG_DATA")"
        echo "export INTERNET10_SERVICES_PG_TMPROOT=$(shquote "$PG_TMPROOT")"
        echo "export INTERNET10_SERVICES_PG_PORT=$PG_PORT"
        echo "export INTERNET10_SERVICES_PG_PID=$(pg_pid "$PG_DATA")"
        echo "export INTERNET10_SERVICES_REDIS_PORT=$REDIS_PORT"
        echo "export INTERNET10_SERVICES_REDIS_PID=$(redis_pid "$DIR/redis.pid")"
        echo "export INTERNET10_SERVICES_REDIS_PIDFILE=$(shquote "$DIR/redis.pid")"
    } >"$tmp"
    mv "$tmp" "$DIR/env"
}

do_start() {
    mkdir -p "$DIR"
    if services_running; then
        log "already running (state in $DIR)"
        cat "$DIR/env"
        return 0
    fi
    # Stale or partial state from an earlier run: clean it up first.
    if [ -e "$DIR/env" ] || [ -e "$DIR/pg" ] || [ -e "$DIR/redis.pid" ] || [ -e "$DIR/pg-tmproot" ]; then
        log "cleaning up stale state in $DIR"
        do_stop
        mkdir -p "$DIR"
    fi

    ensure_binaries
    PG_BINDIR=$(find_pg_bindir)
    # If we die half-way, do not leave servers behind.
    # (Bare `return` inside a trap handler reuses the pre-trap status, hence the
    # explicit `return 0`s in this file and `set +e` here.)
    trap 'rc=$?; set +e; if [ $rc -ne 0 ]; then log "start failed; cleaning up"; do_stop; fi; exit $rc' EXIT

    setup_pg_root
    init_postgres

    # Ports are picked free but could be grabbed before the server binds: retry.
    local attempt ports
    PG_PORT="" REDIS_PORT=""
    for attempt in 1 2 3; do
        ports=$(free_ports 1)
        if start_postgres "$ports"; then PG_PORT=$ports; break; fi
        log "PostgreSQL did not start on port $ports (attempt $attempt)"
        tail_log "$PG_LOG"
        as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
    done
    [ -n "$PG_PORT" ] || die "PostgreSQL failed to start within ${TIMEOUT}s; log: $PG_LOG"

    "$PG_BINDIR/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres -O postgres "$PG_DB" \
        || die "createdb $PG_DB failed"

    for attempt in 1 2 3; do
        ports=$(free_ports 1)
        if [ "$ports" != "$PG_PORT" ] && start_redis "$ports"; then REDIS_PORT=$ports; break; fi
        log "Redis did not start on port $ports (attempt $attempt)"
        tail_log "$DIR/redis.log"
        stop_redis_pidfile_only
    done
    [ -n "$REDIS_PORT" ] || die "Redis failed to start within ${TIMEOUT}s; log: $DIR/redis.log"

    write_env
    trap - EXIT
    log "PostgreSQL on 127.0.0.1:$PG_PORT (data $PG_DATA), Redis on 127.0.0.1:$REDIS_PORT; env in $DIR/env"
    cat "$DIR/env"
}

stop_redis_pidfile_only() {
    local pid
    pid=$(redis_pid "$DIR/redis.pid")
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/redis.pid"
}

# --------------------------------------------------------------------------

[ $# -eq 2 ] && [ -n "$2" ] || usage
CMD=$1
case $CMD in
    start)
        ensure_binaries
        mkdir -p "$2" || die "cannot create directory $2"
        ;;
    stop | status) [ -d "$2" ] || { [ "$CMD" = stop ] && exit 0; log "not running ($2 does not exist)"; exit 1; } ;;
    *) usage ;;
esac
# Absolute path: the PostgreSQL tools run from / as another user.
DIR=$(cd "$2" && pwd -P)

# Serialize concurrent start/stop on the same DIR.  The lock file lives outside
# DIR (stop deletes DIR) and is keyed by DIR's path.  Servers are started with
# fd 9 closed so they never hold the lock; the wait is bounded all the same.
if command -v flock >/dev/null 2>&1; then
    LOCK_FILE=/tmp/internet10-services.$(printf '%s' "$DIR" | cksum | cut -d' ' -f1).lock
    { [ -e "$LOCK_FILE" ] || : >>"$LOCK_FILE"; } 2>/dev/null || true
    if { exec 9<"$LOCK_FILE"; } 2>/dev/null; then
        flock -w 120 9 || log "warning: could not lock $LOCK_FILE within 120s; continuing"
    fi
fi

case $CMD in
    start) do_start ;;
    stop) do_stop_cmd ;;
    status)
        if services_running; then
            cat "$DIR/env"
        else
            log "not running (state dir $DIR)"
            exit 1
        fi
        ;;
esac
