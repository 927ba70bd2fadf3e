#!/usr/bin/env bash
# Builds flotilla and starts a one-node swarm on this machine, or tears it down.
#   deploy/single-node.sh up     build, start the daemon, init the swarm, create a demo service
#   deploy/single-node.sh down   stop the daemon this script started and remove its state
# State lives in $FLOTILLA_DEMO_DIR (default /tmp/flotilla-demo); nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${FLOTILLA_DEMO_DIR:-/tmp/flotilla-demo}
bin=target/release/flotilla
sock="$dir/flotilla.sock"
export FLOTILLA_HOST="unix://$sock"

down() {
  if [[ -f "$dir/daemon.pid" ]]; then
    pid=$(cat "$dir/daemon.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    fi
  fi
  rm -rf "$dir"
  echo "flotilla demo stopped and removed ($dir)"
}

up() {
  cargo build --release --locked -p flotilla-daemon
  if [[ -f "$dir/daemon.pid" ]] && kill -0 "$(cat "$dir/daemon.pid")" 2>/dev/null; then
    echo "a demo daemon is already running (pid $(cat "$dir/daemon.pid")); run '$0 down' first" >&2
    exit 1
  fi
  mkdir -p "$dir"
  "$bin" daemon --data-dir "$dir/data" -H "$FLOTILLA_HOST" --listen-addr 127.0.0.1:4242 \
    --node-name "$(hostname)" >"$dir/daemon.log" 2>&1 &
  echo $! >"$dir/daemon.pid"
  for _ in $(seq 100); do "$bin" info >/dev/null 2>&1 && break; sleep 0.1; done
  "$bin" info >/dev/null || { echo "the daemon did not start; see $dir/daemon.log" >&2; cat "$dir/daemon.log" >&2; exit 1; }
  "$bin" swarm init --advertise-addr 127.0.0.1
  "$bin" service create -d --name web --replicas 3 -e GREETING=hello busybox httpd -f -p 8080 >/dev/null
  echo
  "$bin" node ls
  echo
  "$bin" service ls
  echo
  echo "Use it:   export FLOTILLA_HOST=$FLOTILLA_HOST; $bin service ls"
  echo "Stop it:  $0 down"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
