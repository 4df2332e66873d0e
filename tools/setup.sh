#!/usr/bin/env bash
# Sets up everything edgekit needs on a fresh Debian machine, idempotently:
# the ARM cross compilers (Cortex-M, arm64 Linux), newlib, QEMU (system and user mode) from apt,
# and a .venv in the repository with edgekit, its test tools and the CPU build of torch.
# Re-running it is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc make gcc-aarch64-linux-gnu qemu-user)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=".venv/.edgekit-setup-$(cat pyproject.toml tools/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing edgekit and its dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  # torch first and exactly pinned: the CPU wheel (a looser requirement pulls a CUDA build)
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[dev,torch]"
  rm -f .venv/.edgekit-setup-*
  touch "$stamp"
fi
