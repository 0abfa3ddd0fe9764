#!/usr/bin/env bash
# The hub as a cluster of local processes, for a machine without a Docker engine (the same
# topology docker-compose describes): a private Redis (the bus and the camera leases), video
# workers (`hub serve --role video`) and an API node running the simulated district
# (`hub demo` with HUB_ROLE=api: the wall, the store, the case loop, the device ingest).
#
#   scripts/cluster.sh up [WORKERS]   start (3 video workers unless told); prints the wall's
#                                     address and the admin's one-time password
#   scripts/cluster.sh status         which processes run, and the cameras each worker serves
#   scripts/cluster.sh down           stop them all
#
# Everything lives under $HUB_CLUSTER_DIR (var/cluster): pids, logs, and the data directory the
# processes share (evidence the workers write is served by the API node). Ports: the wall on
# $HUB_PORT (8000), Redis on $HUB_CLUSTER_REDIS_PORT (6391), worker i on
# $HUB_CLUSTER_WORKER_PORT+i (8100+i).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${HUB_CLUSTER_DIR:-var/cluster}
PY=${PY:-.venv/bin/python}
REDIS_PORT=${HUB_CLUSTER_REDIS_PORT:-6391}
PORT=${HUB_PORT:-8000}
WPORT=${HUB_CLUSTER_WORKER_PORT:-8100}
export HUB_BUS=redis
export HUB_REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"
export HUB_DATA_DIR="$DIR/data"
export HUB_SITE=${HUB_SITE:-sites/demo-district.yaml}
export HUB_LOG_JSON=${HUB_LOG_JSON:-false}

start() {  # name command...: in the background, its output in logs/name.log
  local name=$1
  shift
  nohup "$@" >"$DIR/logs/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # what seconds python-expression
  local what=$1 seconds=$2 check=$3
  for _ in $(seq $((seconds * 4))); do
    if $PY -c "$check" 2>/dev/null; then return 0; fi
    sleep 0.25
  done
  echo "cluster: $what did not come up within ${seconds} s (see $DIR/logs)" >&2
  return 1
}

up() {
  local workers=${1:-3}
  [ -x "$PY" ] || make setup
  command -v redis-server >/dev/null || scripts/install-system-deps.sh
  for f in "$DIR"/*.pid; do
    if alive "$f"; then echo "cluster: already running ($f); scripts/cluster.sh down first" >&2; exit 1; fi
  done
  mkdir -p "$DIR/logs" "$HUB_DATA_DIR"
  start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly no
  wait_for "Redis" 10 "import redis; redis.Redis(port=$REDIS_PORT).ping()"
  for i in $(seq 1 "$workers"); do
    start "video-$i" "$PY" -m hub serve --role video --port $((WPORT + i))
  done
  HUB_ROLE=api start api "$PY" -m hub demo --no-open --port "$PORT"
  wait_for "the API node" 120 "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/api/health', timeout=1)"
  for i in $(seq 1 "$workers"); do
    wait_for "video worker $i" 60 "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$((WPORT + i))/api/health', timeout=1)"
  done
  grep -h "Admin login" "$DIR/logs/api.log" || true
  echo "  视频墙 Video wall: http://127.0.0.1:$PORT  ($workers video workers; scripts/cluster.sh status)"
}

status() {
  local f name
  for f in "$DIR"/*.pid; do
    [ -e "$f" ] || { echo "cluster: not running"; return 0; }
    name=$(basename "$f" .pid)
    if alive "$f"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: stopped"; fi
    case $name in
      video-*)
        $PY -c "import json, urllib.request; h = json.load(urllib.request.urlopen('http://127.0.0.1:$((WPORT + ${name#video-}))/api/health', timeout=2)); print('  cameras:', len(h['cameras']), ' '.join(h['cameras']))" 2>/dev/null || true ;;
    esac
  done
}

down() {
  local f pid
  # The API node and the workers first (they hand back their leases), Redis last.
  for f in "$DIR"/api.pid "$DIR"/video-*.pid "$DIR"/redis.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  echo "cluster: stopped"
}

case ${1:-} in
  up) shift; up "$@" ;;
  status) status ;;
  down) down ;;
  *) echo "usage: scripts/cluster.sh up [WORKERS] | status | down" >&2; exit 2 ;;
esac
