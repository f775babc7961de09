#!/bin/sh
# Add Studio to the desktop's application menu (Linux, freedesktop): the icon and a launcher
# that runs this checkout's virtual environment. Undo with: packaging/install-linux.sh --remove
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
if [ "${1:-}" = "--remove" ]; then
    rm -f "$apps/studio.desktop" "$icons/studio.svg"
    echo "removed the Studio launcher"
    exit 0
fi
studio="$here/.venv/bin/studio"
[ -x "$studio" ] || { echo "error: $studio not found; run 'make setup' first" >&2; exit 2; }
mkdir -p "$apps" "$icons"
cp "$here/resources/icons/studio.svg" "$icons/studio.svg"
sed "s|^Exec=studio$|Exec=$studio|" "$here/packaging/studio.desktop" > "$apps/studio.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$apps" || true
echo "installed: $apps/studio.desktop"
