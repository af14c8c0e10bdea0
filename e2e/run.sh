#!/usr/bin/env bash
# Runs the end-to-end tests against the built desktop app in a real window:
# Xvfb -> tauri-driver -> WebKitWebDriver -> the app, inside a D-Bus session
# with an unlocked throwaway keyring (the wizard keeps secrets in the OS
# keyring). The tests start their own local Garage. Screenshots land in
# e2e/screenshots/ (git-ignored). Expects `scripts/setup`, the built app
# (cargo build -p bucketsync-desktop --features custom-protocol) and the
# `bucketsync` and `bucketsync-testserver` binaries (cargo test builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${BUCKETSYNC_TOOLS:-$HOME/.cache/bucketsync/tools}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
APP="${BUCKETSYNC_APP:-$TARGET/debug/bucketsync-desktop}"
[ -x "$APP" ] || { echo "e2e: $APP is not built (scripts/test builds it)" >&2; exit 1; }
for bin in bucketsync bucketsync-testserver; do
  [ -x "$TARGET/debug/$bin" ] || cargo build -p bucketsync-cli -p bucketsync-testserver
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A display number nobody uses, so parallel runs and a desktop session coexist.
display=99
while [ -e "/tmp/.X11-unix/X$display" ] || [ -e "/tmp/.X$display-lock" ]; do display=$((display + 1)); done
Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY=":$display"

rm -rf e2e/screenshots
export E2E_WORK="$work" BUCKETSYNC_TOOLS="$TOOLS" BUCKETSYNC_APP="$APP"
export BUCKETSYNC_CLI="$TARGET/debug/bucketsync" BUCKETSYNC_TESTSERVER="$TARGET/debug/bucketsync-testserver"
# The app reads its home from here: a fresh one, so the first screen is the wizard.
export BUCKETSYNC_HOME="$work/home"
# A throwaway keyring (a stale login keyring with another password stays locked).
export XDG_DATA_HOME="$work/data"
mkdir -p "$XDG_DATA_HOME"

status=0
dbus-run-session -- bash -c '
  set -euo pipefail
  printf "bucketsync-e2e" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  port=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])")
  native=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])")
  "$BUCKETSYNC_TOOLS/bin/tauri-driver" --port "$port" --native-port "$native" --native-driver /usr/bin/WebKitWebDriver \
    >"$E2E_WORK/driver.log" 2>&1 &
  driver=$!
  # The keyring daemon leaves with the session bus when dbus-run-session ends.
  trap "kill $driver 2>/dev/null || true" EXIT
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break
    sleep 0.1
  done
  TAURI_DRIVER_URL="http://127.0.0.1:$port" node --test --test-reporter=spec e2e/*.test.mjs
' || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- tauri-driver log ---" >&2; tail -n 80 "$work/driver.log" >&2 || true
fi
exit "$status"
