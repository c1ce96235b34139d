# Shared by the bench/ scripts (sourced after scripts/lib.sh).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# start_postgres DIR: a throwaway PostgreSQL cluster in DIR/pg on a free loopback port, with a
# database `bench`; sets PG_PORT and PG_URL (postgres://mailward@127.0.0.1:PORT/bench).
# Stopped by stop_postgres DIR. As root, the cluster runs as the postgres user.
start_postgres() {
  local dir=$1 bin as=()
  bin=$(pg_bin); [ -n "$bin" ] || die "PostgreSQL is not installed (scripts/install-deps test)"
  mkdir -p "$dir/pg"
  if [ "$(id -u)" = 0 ]; then chmod o+x "$dir"; chown postgres: "$dir/pg"; as=(runuser -u postgres --); fi
  "${as[@]}" "$bin/initdb" -D "$dir/pg" -U mailward --auth=trust -E UTF8 --no-sync >/dev/null
  PG_PORT=$(free_port)
  "${as[@]}" "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$dir/pg -c max_connections=200" \
    start >/dev/null
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U mailward -d postgres -c "CREATE DATABASE bench" >/dev/null
  PG_URL="postgres://mailward@127.0.0.1:$PG_PORT/bench"
}

stop_postgres() {
  local dir=$1 as=()
  [ -d "$dir/pg" ] || return 0
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$(pg_bin)/pg_ctl" -D "$dir/pg" stop -m immediate >/dev/null 2>&1 || true
}

# settle PID: waits until the process is idle — under 5 % of a core over a whole second — at
# most 60 s. A server's first seconds belong to its start-up jobs (the first DNS scan, the
# first DKIM keys: ~0.2 s of a core each); measured pages would share the cores with them.
settle() {
  local pid=$1 before after
  ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  for _ in $(seq 60); do
    before=$(ticks); sleep 1; after=$(ticks)
    [ $((after - before)) -le $(( $(getconf CLK_TCK) / 20 )) ] && return 0
  done
  echo "bench: process $pid still busy after 60 s; measuring anyway" >&2
}
