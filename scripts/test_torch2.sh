#!/usr/bin/env bash
# Builds and runs the whole test suite against LibTorch 2.x on this Debian 12 machine, whose
# own LibTorch is 1.13: the README's test command (scripts/test.sh) runs on a clean clone of
# HEAD inside a Debian trixie chroot, whose libtorch-dev is LibTorch 2.6 (and OpenMPI 5,
# g++ 14, OpenCV 4.10, ...). Where scripts/check_torch2.sh checks the API (syntax only), this
# links and runs: ABI, link and behaviour differences of 2.x show up here, not on a GPU.
#
# The chroot lives in .torch2/<suite>-root (git-ignored, ~2.5 GB once the packages are in);
# it is made once with debootstrap, and the packages come from scripts/setup.sh run inside it
# (so setup.sh is checked on trixie too). The sample photos are copied from this checkout's
# data/samples (fetched here first when missing) so that both builds see the same images.
# Needs: root (mount, chroot), network access to the Debian mirror, committed work (it
# clones HEAD, as CI does). Not part of ctest or the README commands: a developer check.
# Usage: scripts/test_torch2.sh [SUITE=trixie] [-- extra ctest args]
# Exit status: that of scripts/test.sh in the chroot. Log: .torch2/test_<suite>.log
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SUITE=trixie
if [ $# -gt 0 ] && [ "$1" != "--" ]; then SUITE="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CH="$ROOT/.torch2/$SUITE-root"
LOG="$ROOT/.torch2/test_$SUITE.log"
die() { echo "test_torch2: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mount --bind, chroot)"

if [ ! -f "$CH/.srnas_ok" ]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
  if [ -d "$CH" ] && findmnt -rn -o TARGET | grep -q "^$CH/"; then die "$CH has mounts left (umount them first)"; fi
  rm -rf "${CH:?}"; mkdir -p "$CH"
  echo "[torch2] debootstrap $SUITE into $CH"
  debootstrap --variant=minbase --include=ca-certificates,git "$SUITE" "$CH" "$MIRROR" >"$ROOT/.torch2/debootstrap.log" 2>&1 ||
    die "debootstrap $SUITE failed (see .torch2/debootstrap.log)"
  touch "$CH/.srnas_ok"
fi

mounted=()
cleanup() { for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done; }
trap cleanup EXIT
for d in proc sys dev dev/pts; do
  if ! mountpoint -q "$CH/$d"; then mount --bind "/$d" "$CH/$d"; mounted+=("$CH/$d"); fi
done
cp /etc/resolv.conf "$CH/etc/resolv.conf"

# A clean clone of HEAD, as CI makes, plus this checkout's photos.
[ -f data/samples/MANIFEST ] || scripts/fetch_samples.sh
rm -rf "$CH/srnas"
git clone -q "$ROOT" "$CH/srnas"
mkdir -p "$CH/srnas/data" && cp -a data/samples "$CH/srnas/data/"
echo "[torch2] $SUITE chroot, srnas $(git -C "$CH/srnas" log -1 --format='%h %s' | cut -c1-72)"

set +e
chroot "$CH" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 TERM=dumb JOBS="${JOBS:-$(nproc)}" \
  bash -c 'cd /srnas && scripts/test.sh "$@"' test_torch2 "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e

# Across versions: what this checkout's LibTorch (1.13) exports runs in the chroot's stock
# PyTorch-Python (2.x), as users' newer PyTorch loads our exports. The host's test_export
# runs with its scratch folder inside the chroot and SRNAS_PYTHON calling the chroot's python.
if [ -x build/tests/analysis/test_export ]; then
  PYW="$ROOT/.torch2/python_in_$SUITE.sh"
  cat > "$PYW" <<WRAPPER
#!/usr/bin/env bash
# python3 of the $SUITE chroot, host paths mapped into it (written by scripts/test_torch2.sh).
ch='$CH' root='$ROOT' args=()
for a in "\$@"; do a="\${a//"\$root/scripts"/"/srnas/scripts"}"; args+=("\${a//"\$ch/"/"/"}"); done
exec chroot "\$ch" /usr/bin/python3 "\${args[@]}"
WRAPPER
  chmod +x "$PYW"
  echo "[torch2] across versions: build/tests/analysis/test_export (this checkout's LibTorch) -> $SUITE's python3 torch"
  set +e
  TMPDIR="$CH/tmp" SRNAS_PYTHON="$PYW" build/tests/analysis/test_export \
    --gtest_filter=Export.StockPyTorchComputesWhatSRNetComputes 2>&1 | tee -a "$LOG" | grep -E "python \]|OK \]|FAILED|SKIPPED"
  xrc=${PIPESTATUS[0]}
  set -e
  if [ "$xrc" -ne 0 ]; then echo "[torch2] across versions: FAILED (exit status $xrc)"; [ "$rc" -ne 0 ] || rc=$xrc; fi
else
  echo "[torch2] across versions: skipped (no build/tests/analysis/test_export here; run scripts/test.sh first)"
fi
echo "[torch2] $(grep -m1 -o 'srnas: LibTorch [^ ]*' "$LOG" || echo 'LibTorch version not found in the log'); exit status $rc; log $LOG"
exit "$rc"
