#!/usr/bin/env bash
# Checks the .deb that scripts/package built: what it contains, what it
# depends on, and that it installs and both programs start from /usr/bin.
set -euo pipefail
deb="$1"
fail() { echo "check-deb: $*" >&2; exit 1; }
contents=$(dpkg -c "$deb")
for f in usr/bin/bucketsync-desktop usr/bin/bucketsync usr/share/applications/Bucketsync.desktop \
         usr/share/icons/hicolor/128x128/apps/bucketsync-desktop.png; do
  grep -Eq " (\./)?$f\$" <<<"$contents" || fail "$f missing from $deb"
done
depends=$(dpkg-deb -f "$deb" Depends)
for d in libwebkit2gtk-4.1-0 libayatana-appindicator3-1 "gnome-keyring | keepassxc"; do
  grep -qF "$d" <<<"$depends" || fail "Depends lacks $d: $depends"
done
desktop=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*usr/share/applications/Bucketsync.desktop')
grep -qx 'Name=Bucketsync' <<<"$desktop" || fail "the menu entry is not named Bucketsync"
grep -qx 'Exec=bucketsync-desktop' <<<"$desktop" || fail "the menu entry does not start bucketsync-desktop"

# Install it for real (as apt does on a user's machine), run the CLI from
# /usr/bin, then take it out again.
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
name=$(dpkg-deb -f "$deb" Package)
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$(realpath "$deb")" >/dev/null
trap 'DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq "$name" >/dev/null' EXIT
/usr/bin/bucketsync --version
/usr/bin/bucketsync --home "$(mktemp -d)" policy list >/dev/null
# The app starts from the menu's command and keeps running (killed after 10 s).
status=0
BUCKETSYNC_HOME="$(mktemp -d)" xvfb-run -a timeout 10 /usr/bin/bucketsync-desktop >/dev/null 2>&1 || status=$?
[ "$status" -eq 124 ] || fail "bucketsync-desktop exited with $status within 10 s of starting"
echo "check-deb: $deb ok ($(du -h "$deb" | cut -f1), Depends: $depends)"
