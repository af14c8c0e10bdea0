#!/usr/bin/env bash
# Runs the end-to-end tests against the built desktop app in a real window:
# Xvfb -> tauri-driver -> WebKitWebDriver -> the app. Screenshots land in
# e2e/screenshots/ (git-ignored). Expects `scripts/setup` and a built app.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${BUCKETSYNC_TOOLS:-$HOME/.cache/bucketsync/tools}"
APP="${BUCKETSYNC_APP:-${CARGO_TARGET_DIR:-$PWD/target}/debug/bucketsync-desktop}"
[ -x "$APP" ] || { echo "e2e: $APP is not built (scripts/test builds it)" >&2; exit 1; }

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

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
native=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The app reads its home from here: a fresh one, so the first screen is the wizard.
export BUCKETSYNC_HOME="$work/home"
"$TOOLS/bin/tauri-driver" --port "$port" --native-port "$native" --native-driver /usr/bin/WebKitWebDriver \
  >"$work/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/status" >/dev/null 2>&1 && break
  sleep 0.1
done

status=0
BUCKETSYNC_APP="$APP" TAURI_DRIVER_URL="http://127.0.0.1:$port" \
  node --test --test-reporter=spec e2e/*.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- tauri-driver log ---" >&2; tail -n 50 "$work/driver.log" >&2
fi
exit "$status"
