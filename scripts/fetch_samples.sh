#!/usr/bin/env bash
# Provides srnas' embedded default data set: 25 real photographs taken from two
# Debian 12 packages, split into data/samples/train (20) and data/samples/val (5).
#
#   python3-skimage   (scikit-image's data folder, usr/lib/python3/dist-packages/skimage/data)
#   mate-backgrounds  (usr/share/backgrounds/mate/nature)
#
# The packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`
# into a temporary folder; nothing is installed. Files are
# copied unchanged (PNG/JPEG; PNGs without their iCCP chunk, see below). data/samples/MANIFEST (split/name size) is written
# last; when it matches the files on disk the script exits at once.
# The split and the licences are documented in docs/data.md.
#
# Usage: scripts/fetch_samples.sh [--force]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/data/samples"
MANIFEST="$DEST/MANIFEST"

SKI=usr/lib/python3/dist-packages/skimage/data
MATE=usr/share/backgrounds/mate/nature

# split|package|path inside the package. Destination name = basename of the path.
# Only natural photographs >= 300 px on a side; the stereo pair motorcycle_left/right
# stays together in train so that val shares no scene with train.
FILES=(
  "val|python3-skimage|$SKI/camera.png"
  "val|python3-skimage|$SKI/chelsea.png"
  "val|python3-skimage|$SKI/rocket.jpg"
  "val|mate-backgrounds|$MATE/Dune.jpg"
  "val|mate-backgrounds|$MATE/FreshFlower.jpg"
  "train|python3-skimage|$SKI/astronaut.png"
  "train|python3-skimage|$SKI/brick.png"
  "train|python3-skimage|$SKI/coffee.png"
  "train|python3-skimage|$SKI/coins.png"
  "train|python3-skimage|$SKI/grass.png"
  "train|python3-skimage|$SKI/gravel.png"
  "train|python3-skimage|$SKI/hubble_deep_field.jpg"
  "train|python3-skimage|$SKI/moon.png"
  "train|python3-skimage|$SKI/motorcycle_left.png"
  "train|python3-skimage|$SKI/motorcycle_right.png"
  "train|mate-backgrounds|$MATE/Aqua.jpg"
  "train|mate-backgrounds|$MATE/Blinds.jpg"
  "train|mate-backgrounds|$MATE/Garden.jpg"
  "train|mate-backgrounds|$MATE/GreenMeadow.jpg"
  "train|mate-backgrounds|$MATE/LadyBird.jpg"
  "train|mate-backgrounds|$MATE/RainDrops.jpg"
  "train|mate-backgrounds|$MATE/Storm.jpg"
  "train|mate-backgrounds|$MATE/TwoWings.jpg"
  "train|mate-backgrounds|$MATE/Wood.jpg"
  "train|mate-backgrounds|$MATE/YellowFlower.jpg"
)
PACKAGES=(python3-skimage mate-backgrounds)

die() { echo "[data] error: $*" >&2; exit 1; }

FORCE=0
case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (usage: scripts/fetch_samples.sh [--force])" ;;
esac

# Expected manifest keys, "split/name", sorted.
expected_keys() {
  local e split path
  for e in "${FILES[@]}"; do
    IFS='|' read -r split _ path <<<"$e"
    echo "$split/${path##*/}"
  done | LC_ALL=C sort
}

# True when MANIFEST lists exactly the expected files and every size matches.
samples_present() {
  [ -f "$MANIFEST" ] || return 1
  [ "$(grep -v '^#' "$MANIFEST" | awk 'NF{print $1}' | LC_ALL=C sort)" = "$(expected_keys)" ] || return 1
  local key size
  while read -r key size; do
    case "$key" in ''|'#'*) continue ;; esac
    [ -f "$DEST/$key" ] && [ "$(stat -c %s "$DEST/$key")" = "$size" ] || return 1
  done <"$MANIFEST"
}

count_split() { grep -c "^$1/" <(expected_keys); }

if [ "$FORCE" = 0 ] && samples_present; then
  echo "[data] samples present ($(count_split train) train, $(count_split val) val in data/samples)"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || die "'$tool' not found (this script needs Debian's apt/dpkg)"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/srnas-samples.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/debs" "$TMP/root"
# As root, apt hands downloads to the unprivileged _apt user; let it write there
# (otherwise apt only warns and downloads unsandboxed).
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
  chmod 755 "$TMP"
  chown _apt "$TMP/debs"
fi

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
UPDATED=0

download() {  # download <package>: apt-get download into $TMP/debs, updating lists once if needed
  local pkg="$1" log="$TMP/apt-$1.log"
  if (cd "$TMP/debs" && apt-get download -q "$pkg") >"$log" 2>&1; then return 0; fi
  if [ "$UPDATED" = 0 ]; then
    echo "[data] apt-get download $pkg failed; running apt-get update (package lists missing or stale)"
    $SUDO apt-get update -qq >>"$log" 2>&1 || die "apt-get update failed: $(grep -E '^(E|Err):' "$log" | tail -n1)"
    UPDATED=1
    if (cd "$TMP/debs" && apt-get download -q "$pkg") >>"$log" 2>&1; then return 0; fi
  fi
  die "apt-get download $pkg failed: $(grep -E '^(E|Err):' "$log" | tail -n1 | tr -s ' ')"
}

VERSIONS=()
for pkg in "${PACKAGES[@]}"; do
  echo "[data] downloading $pkg"
  download "$pkg"
  debs=("$TMP/debs/${pkg}"_*.deb)
  deb="${debs[0]}"
  [ -f "$deb" ] || die "apt-get download $pkg produced no .deb"
  ver="$(dpkg-deb -f "$deb" Version)"
  echo "[data] unpacking $pkg $ver ($(( $(stat -c %s "$deb") / 1048576 )) MiB)"
  dpkg-deb -x "$deb" "$TMP/root/$pkg" || die "dpkg-deb -x failed on $(basename "$deb")"
  VERSIONS+=("$pkg=$ver")
done

echo "[data] copying ${#FILES[@]} photos into data/samples/{train,val}"
rm -f "$MANIFEST"
mkdir -p "$DEST/train" "$DEST/val"
entries=()
for e in "${FILES[@]}"; do
  IFS='|' read -r split pkg path <<<"$e"
  src="$TMP/root/$pkg/$path"
  [ -f "$src" ] || die "$pkg no longer ships $path"
  name="${path##*/}"
  cp -f "$src" "$DEST/$split/$name"
  # skimage's astronaut.png and chelsea.png carry an sRGB ICC profile that libpng flags on
  # every read ("libpng warning: iCCP: known incorrect sRGB profile"); OpenCV ignores colour
  # profiles, so dropping the chunk leaves the pixels as they were and silences the warning.
  if [[ "$name" == *.png ]] && command -v python3 >/dev/null; then
    python3 - "$DEST/$split/$name" <<'PY' || die "cannot strip the iCCP chunk of $name"
import struct, sys
path = sys.argv[1]
data = open(path, "rb").read()
out, i = [data[:8]], 8
while i < len(data):
    n = struct.unpack(">I", data[i:i + 4])[0]
    if data[i + 4:i + 8] != b"iCCP":
        out.append(data[i:i + 12 + n])
    i += 12 + n
open(path, "wb").write(b"".join(out))
PY
  fi
  entries+=("$split/$name $(stat -c %s "$DEST/$split/$name")")
done

# Files in train/val that this script did not put there are left alone, but they
# will be read as data by srnas: say so.
for split in train val; do
  extra=0
  for f in "$DEST/$split"/*; do
    [ -e "$f" ] || continue
    grep -qxF "$split/${f##*/}" <(expected_keys) || extra=$((extra + 1))
  done
  [ "$extra" = 0 ] || echo "[data] note: data/samples/$split holds $extra extra file(s) not from this script"
done

{
  echo "# srnas embedded sample data, written by scripts/fetch_samples.sh; see docs/data.md"
  echo "# packages: ${VERSIONS[*]}"
  echo "# split/name size_bytes"
  printf '%s\n' "${entries[@]}" | LC_ALL=C sort
} >"$MANIFEST.tmp"
mv -f "$MANIFEST.tmp" "$MANIFEST"

total=0
for e in "${entries[@]}"; do total=$((total + ${e##* })); done
echo "[data] done: $(count_split train) train, $(count_split val) val images," \
     "$(awk -v b="$total" 'BEGIN{printf "%.1f", b/1048576}') MiB in data/samples"
