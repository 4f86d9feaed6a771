#!/usr/bin/env bash
# Installs every Debian package srnas needs to build and test (idempotent), then
# provides the embedded default data set under data/samples/{train,val}.
# Usage: scripts/setup.sh [--no-data]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PKGS=(cmake g++ make pkg-config libtorch-dev libopencv-imgcodecs-dev libsqlite3-dev libfmt-dev
      libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libopenmpi-dev openmpi-bin gnuplot-nox
      libgoogle-perftools-dev libopenblas0-openmp python3-torch python3-optuna)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "[setup] all packages present"
fi

if [ "${1:-}" != "--no-data" ]; then
  "$ROOT/scripts/fetch_samples.sh"
fi
