#!/usr/bin/env bash
# A small flotilla cluster on this one machine: each node a `flotilla daemon` in its own network
# namespace, all on one bridge (which lives in a namespace of its own), running a demo service.
#   deploy/lab.sh up     build, start NODES nodes (default 3: one manager, two workers), load the
#                        demo image built from the host's busybox on every node, create `web`
#   deploy/lab.sh down   remove the service, stop the daemons this script started, remove the
#                        namespaces and the state directory
#   deploy/lab.sh cli N ARGS…   run the flotilla CLI against node N (1-based)
# Needs root, iproute2, util-linux (nsenter) and busybox-static. State lives in
# $FLOTILLA_LAB_DIR (default /tmp/flotilla-lab); namespaces are named flt-lab-*.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${FLOTILLA_LAB_DIR:-/tmp/flotilla-lab}
nodes=${NODES:-3}
replicas=${REPLICAS:-6}
bin=$PWD/target/release/flotilla
subnet=10.213.77
image=flotilla/demo:latest

ns() { echo "flt-lab-n$1"; }
addr() { echo "$subnet.$(($1 + 1))"; }
cli() { local i=$1; shift; "$bin" -H "unix://$dir/n$i/flotilla.sock" "$@"; }

down() {
  if [[ -d "$dir" ]]; then
    # Services first, so their containers stop while the daemons still run.
    if cli 1 service ls -q >/dev/null 2>&1; then
      for s in $(cli 1 service ls -q 2>/dev/null); do cli 1 service rm "$s" >/dev/null 2>&1 || true; done
      for _ in $(seq 100); do
        busy=0
        for i in $(seq "$nodes"); do
          [[ -n "$(cli "$i" container ls -q 2>/dev/null)" ]] && busy=1
        done
        [[ $busy == 0 ]] && break
        sleep 0.1
      done
    fi
    for i in $(seq "$nodes"); do
      for c in $(cli "$i" container ls -aq 2>/dev/null); do cli "$i" container rm -f "$c" >/dev/null 2>&1 || true; done
      pidfile="$dir/n$i/daemon.pid"
      if [[ -f "$pidfile" ]]; then
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
          kill -TERM "$pid"
          for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
          if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
        fi
      fi
    done
  fi
  for n in $(ip netns list | awk '/^flt-lab-/ {print $1}'); do ip netns delete "$n"; done
  rm -rf "$dir"
  echo "flotilla lab stopped and removed ($dir)"
}

demo_image() {
  local root="$dir/image/rootfs"
  [[ -x /bin/busybox ]] || { echo "needs /bin/busybox: apt-get install busybox-static" >&2; exit 1; }
  mkdir -p "$root/bin" "$root/etc" "$root/www" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for a in sh echo cat ls sleep httpd hostname env wget ps true false head tr date uname; do
    ln -sf busybox "$root/bin/$a"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  cat >"$root/www/index.html" <<'EOF'
<h1>hello from flotilla</h1>
EOF
  tar -C "$root" -cf "$dir/image/demo.tar" .
}

up() {
  [[ $(id -u) == 0 ]] || { echo "deploy/lab.sh needs root (network namespaces, cgroups, mounts)" >&2; exit 1; }
  if ip netns list | grep -q '^flt-lab-'; then
    echo "a lab is already up; run '$0 down' first" >&2
    exit 1
  fi
  cargo build --release --locked -p flotilla-daemon
  mkdir -p "$dir"
  demo_image
  ip netns add flt-lab-sw
  ip -n flt-lab-sw link set lo up
  ip -n flt-lab-sw link add br0 type bridge
  ip -n flt-lab-sw link set br0 up
  for i in $(seq "$nodes"); do
    ip netns add "$(ns "$i")"
    ip link add "vn$i" netns flt-lab-sw type veth peer name eth0 netns "$(ns "$i")"
    ip -n "$(ns "$i")" link set lo up
    ip -n "$(ns "$i")" addr add "$(addr "$i")/24" dev eth0
    ip -n "$(ns "$i")" link set eth0 up
    ip -n flt-lab-sw link set "vn$i" master br0
    ip -n flt-lab-sw link set "vn$i" up
    mkdir -p "$dir/n$i"
    nsenter --net="/run/netns/$(ns "$i")" -- "$bin" daemon --data-dir "$dir/n$i/data" \
      -H "unix://$dir/n$i/flotilla.sock" --listen-addr "$(addr "$i"):4242" \
      --advertise-addr "$(addr "$i")" --node-name "node$i" >"$dir/n$i/daemon.log" 2>&1 &
    echo $! >"$dir/n$i/daemon.pid"
  done
  for i in $(seq "$nodes"); do
    for _ in $(seq 100); do cli "$i" info >/dev/null 2>&1 && break; sleep 0.1; done
    cli "$i" info >/dev/null || { echo "node $i did not start; see $dir/n$i/daemon.log" >&2; exit 1; }
    cli "$i" image import "$dir/image/demo.tar" "$image" >/dev/null
  done
  cli 1 swarm init --advertise-addr "$(addr 1)" >/dev/null
  token=$(cli 1 swarm join-token -q worker)
  for i in $(seq 2 "$nodes"); do
    cli "$i" swarm join --token "$token" "$(addr 1):4242" >/dev/null
  done
  for _ in $(seq 100); do
    [[ $(cli 1 node ls -q | wc -l) == "$nodes" ]] && ! cli 1 node ls | grep -q Unknown && break
    sleep 0.1
  done
  cli 1 node ls
  echo
  cli 1 service create --name web --replicas "$replicas" "$image" httpd -f -p 8080 -h /www
  echo
  cli 1 service ls
  echo
  cli 1 service ps web
  echo
  echo "Use it:   deploy/lab.sh cli 1 service ps web"
  echo "Stop it:  deploy/lab.sh down"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  cli) shift; n=$1; shift; cli "$n" "$@" ;;
  *) echo "usage: $0 up|down|cli N ARGS…" >&2; exit 2 ;;
esac
