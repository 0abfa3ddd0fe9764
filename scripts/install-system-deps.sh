#!/usr/bin/env bash
# Install the Debian packages the hub and its tests use, only when missing.
#   ffmpeg      ffprobe/ffmpeg for interop checks
#   chromium    browser tests (Playwright drives Debian's Chromium; its own download fails offline)
#   vlc         a third-party RTSP server for the interop test (cvlc)
#   mosquitto   MQTT broker
#   nodejs/npm  builds the wall UI
#   fonts-wqy-zenhei  CJK glyphs for the browser
#   redis-server  the bus across processes (the tests start a private server: tests/redis_server.py)
#   postgresql  initdb + pg_ctl: the tests start a private cluster (tests/pg_cluster.py)
set -euo pipefail
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
command -v cvlc >/dev/null || need+=(vlc-bin vlc-plugin-base)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v redis-server >/dev/null || need+=(redis-server)
command -v npm >/dev/null || need+=(nodejs npm)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need+=(postgresql)
# The wall is Chinese first: without a CJK font, Chromium (and screenshots) show boxes.
ls /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc >/dev/null 2>&1 || need+=(fonts-wqy-zenhei)
command -v python3.11 >/dev/null || command -v python3 >/dev/null || need+=(python3 python3-venv)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing system packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
