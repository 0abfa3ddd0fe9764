#!/usr/bin/env bash
# The hub as a cluster of local processes, for a machine without a Docker engine (the same
# topology docker-compose describes): a private Redis (the bus and the camera leases), video
# workers (`hub serve --role video`) and an API node running the simulated district
# (`hub demo` with HUB_ROLE=api: the wall, the store, the case loop, the MQTT broker, device
# presence and rules) and, when the store is PostgreSQL (HUB_DATABASE_URL), MQTT ingest
# processes (`hub serve --role devices`) sharing the broker's messages through $share.
#
#   scripts/cluster.sh up [WORKERS] [INGEST]
#                                     start (3 video workers unless told; 2 ingest processes
#                                     with PostgreSQL, none with SQLite: the API node ingests);
#                                     prints the wall's address and the admin's one-time password
#   scripts/cluster.sh status         which processes run, and the cameras each worker serves
#   scripts/cluster.sh down           stop them all
#
# Everything lives under $HUB_CLUSTER_DIR (var/cluster): pids, logs, and the data directory the
# processes share (evidence the workers write is served by the API node). Ports: the wall on
# $HUB_PORT (8000), Redis on $HUB_CLUSTER_REDIS_PORT (6391), worker i on
# $HUB_CLUSTER_WORKER_PORT+i (8100+i), ingest process i on $HUB_CLUSTER_INGEST_PORT+i (8200+i),
# the broker (embedded in the API node) on $HUB_MQTT_EMBEDDED_PORT (1884).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${HUB_CLUSTER_DIR:-var/cluster}
PY=${PY:-.venv/bin/python}
REDIS_PORT=${HUB_CLUSTER_REDIS_PORT:-6391}
PORT=${HUB_PORT:-8000}
WPORT=${HUB_CLUSTER_WORKER_PORT:-8100}
IPORT=${HUB_CLUSTER_INGEST_PORT:-8200}
MQTT_PORT=${HUB_MQTT_EMBEDDED_PORT:-1884}
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
  local workers=${1:-3} ingest=${2:-}
  if [ -z "$ingest" ]; then
    case ${HUB_DATABASE_URL:-} in postgresql*) ingest=2 ;; *) ingest=0 ;; esac
  fi
  if [ "$ingest" -gt 0 ] && [[ ${HUB_DATABASE_URL:-} != postgresql* ]]; then
    echo "cluster: ingest processes need the store on PostgreSQL (HUB_DATABASE_URL)" >&2
    exit 2
  fi
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
  if [ "$ingest" -gt 0 ]; then
    # The API node keeps the broker and its accounts (one per ingest process, with the hub's
    # password from the shared data directory) and follows presence from the bus.
    local accounts
    accounts=$(seq -f '"ingest-%g"' -s, 1 "$ingest")
    HUB_ROLE=api HUB_INGEST_ELSEWHERE=true HUB_INGEST_ACCOUNTS="[$accounts]" \
      start api "$PY" -m hub demo --no-open --port "$PORT"
  else
    HUB_ROLE=api start api "$PY" -m hub demo --no-open --port "$PORT"
  fi
  wait_for "the API node" 120 "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/api/health', timeout=1)"
  for i in $(seq 1 "$ingest"); do
    HUB_MQTT_URL="mqtt://127.0.0.1:$MQTT_PORT" HUB_MQTT_USERNAME="ingest-$i" \
      start "ingest-$i" "$PY" -m hub serve --role devices --port $((IPORT + i))
  done
  for i in $(seq 1 "$workers"); do
    wait_for "video worker $i" 60 "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$((WPORT + i))/api/health', timeout=1)"
  done
  for i in $(seq 1 "$ingest"); do
    wait_for "ingest process $i" 60 "import json, urllib.request; assert json.load(urllib.request.urlopen('http://127.0.0.1:$((IPORT + i))/api/health', timeout=1))['connected']"
  done
  grep -h "Admin login" "$DIR/logs/api.log" || true
  echo "  视频墙 Video wall: http://127.0.0.1:$PORT  ($workers video workers, $ingest ingest processes; scripts/cluster.sh status)"
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
      ingest-*)
        $PY -c "import json, urllib.request; h = json.load(urllib.request.urlopen('http://127.0.0.1:$((IPORT + ${name#ingest-}))/api/health', timeout=2)); print('  connected:', h['connected'], ' accepted:', h['accepted'], ' rejected:', h['rejected'])" 2>/dev/null || true ;;
    esac
  done
}

down() {
  local f pid
  # Ingest first (what it holds unacked goes back to the broker), then the API node (the
  # broker) and the workers (they hand back their leases), Redis last.
  for f in "$DIR"/ingest-*.pid "$DIR"/api.pid "$DIR"/video-*.pid "$DIR"/redis.pid; do
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
  *) echo "usage: scripts/cluster.sh up [WORKERS] [INGEST] | status | down" >&2; exit 2 ;;
esac
