#!/usr/bin/env bash
# Prepares .gpu_extras/ (git-ignored) on this Debian machine for a GPU machine that has
# python3 with a CUDA torch but no apt and none of our -dev packages: the header-only
# libraries and yaml-cpp, unpacked from Debian .debs (apt-get download + dpkg-deb -x), about
# 3 MB. Carry it with the working tree (device tool: carry [".gpu_extras"]) and run
# scripts/gpu_check.sh there.
# Usage: scripts/gpu_extras.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.gpu_extras"
PKGS=(nlohmann-json3-dev libfmt-dev libfmt9 libyaml-cpp-dev libyaml-cpp0.7)
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download "${PKGS[@]}" >/dev/null 2>&1) || {
  echo "gpu_extras: apt-get download ${PKGS[*]} failed (run apt-get update?)" >&2; exit 1; }
rm -rf "$DEST"; mkdir -p "$DEST"
for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$DEST"; done
# Debian's .so symlinks are absolute or relative to /usr/lib; make the dev links local.
lib="$DEST/usr/lib/x86_64-linux-gnu"
for so in libyaml-cpp.so libfmt.so; do
  real="$(ls "$lib"/$so.* 2>/dev/null | sort | tail -1)"
  [ -n "$real" ] && ln -sfn "$(basename "$real")" "$lib/$so"
done
rm -rf "$DEST/usr/share/doc" "$DEST/usr/share/lintian"
echo "gpu_extras: $(du -sh "$DEST" | cut -f1) in $DEST (${PKGS[*]})"
