#!/usr/bin/env bash
# Creates .venv and installs tooltune with its extras. torch comes first and explicitly: the CPU
# wheel when no CUDA GPU is present (a bare `torch` requirement would pull a multi-GB CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
EXTRAS=${EXTRAS:-dev}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
$VPY -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! $VPY -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    $VPY -m pip install -q "torch==${TORCH_VERSION}"
  else
    # The CPU wheel: from a local wheelhouse when the machine has one, else PyTorch's CPU index.
    $VPY -m pip install -q "torch==${TORCH_VERSION}" 2>/dev/null \
      || $VPY -m pip install -q "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  EXTRAS="${EXTRAS},serve"
elif ! $VPY -c "import xgrammar" >/dev/null 2>&1; then
  # xgrammar's CPU path needs no triton (a ~1 GB GPU kernel compiler): leave it out.
  $VPY -m pip install -q --no-deps "xgrammar>=0.2.8" "apache-tvm-ffi"
fi
$VPY -m pip install -q -e ".[${EXTRAS}]"
# tcmalloc: training's peak memory drops ~35% under it (src/tooltune/allocator.py). Best effort:
# only as root with apt; elsewhere `apt install libtcmalloc-minimal4` (or gperftools) by hand.
if ! $VPY -c "import sys; from tooltune.allocator import find_allocator; sys.exit(find_allocator() is None)" \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1; } \
    || echo "note: could not install libtcmalloc-minimal4; training runs with glibc malloc (more memory)"
fi
# Chromium for the web console's browser tests (dev installs only; Playwright drives the system's
# Chromium, it downloads no browser of its own).
if [[ ",${EXTRAS}," == *",dev,"* ]] && ! command -v chromium >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "note: could not install chromium; the web console's browser test will be skipped"
fi
echo "installed: $($VPY -c 'import torch, transformers, tooltune; print("torch", torch.__version__, "| transformers", transformers.__version__, "| tooltune", tooltune.__version__)')"
