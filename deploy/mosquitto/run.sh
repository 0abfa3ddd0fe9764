#!/bin/sh
# Runs Mosquitto with the password and ACL files the hub writes, and reloads it when they change.
# The hub writes $SRC/passwd and $SRC/acl atomically (temp + rename, so each change is a new
# inode); this copies them where Mosquitto reads them, owned by its user, then sends SIGHUP.
set -eu
SRC="${HUB_AUTH_DIR:-/hubdata/mosquitto-auth}"
DST="${MOSQ_AUTH_DIR:-/mosquitto/auth}"
CONF="${MOSQ_CONF:-/mosquitto/config/mosquitto.conf}"
OWNER="${MOSQ_OWNER:-mosquitto}"   # empty: keep the current user
BIN="${MOSQ_BIN:-mosquitto}"

install_files() {
    mkdir -p "$DST"
    for f in passwd acl; do
        cp "$SRC/$f" "$DST/.$f.tmp"
        [ -n "$OWNER" ] && chown "$OWNER" "$DST/.$f.tmp"
        chmod 0600 "$DST/.$f.tmp"
        mv -f "$DST/.$f.tmp" "$DST/$f"
    done
}

stamp() { ls -i "$SRC/passwd" "$SRC/acl" 2>/dev/null | tr '\n' ' '; }

echo "waiting for the hub to write $SRC/passwd and $SRC/acl"
while [ ! -f "$SRC/passwd" ] || [ ! -f "$SRC/acl" ]; do sleep 1; done
install_files
last="$(stamp)"
"$BIN" -c "$CONF" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
while kill -0 "$pid" 2>/dev/null; do
    sleep "${MOSQ_POLL_SECONDS:-0.5}"
    now="$(stamp)"
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
        install_files
        kill -HUP "$pid"
        last="$now"
    fi
done
wait "$pid"
