#!/usr/bin/env bash
# Renders an srnas report.html (srnas report --out DIR) to a PNG with headless Chromium, to
# look at it without a desktop. Needs the Debian package `chromium` (apt-get install chromium).
# Usage: scripts/report_screenshot.sh REPORT.html OUT.png [WIDTH [HEIGHT]]   (default 1200 2400)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH [HEIGHT]]" >&2
  exit 2
fi
REPORT="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
OUT="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
W="${3:-1200}"
H="${4:-2400}"
[ -f "$REPORT" ] || { echo "$REPORT: no such file" >&2; exit 2; }
BROWSER="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$BROWSER" ] || { echo "chromium not found: apt-get install chromium" >&2; exit 2; }
PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
"$BROWSER" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$PROFILE" \
  --screenshot="$OUT" --window-size="$W,$H" "file://$REPORT" >/dev/null 2>&1
[ -s "$OUT" ] || { echo "chromium wrote no screenshot to $OUT" >&2; exit 1; }
echo "$OUT"
