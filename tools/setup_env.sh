#!/usr/bin/env bash
# Copyright (c) mmalfm contributors. All rights reserved.
#
# Set up `.venv` with the tested OpenMMLab stack from `uv.lock`.
#
#   bash tools/setup_env.sh          # what `make setup` runs
#
# * bootstraps `uv` (pinned) into `.tools/` when it is not on PATH;
# * takes torch/torchvision from PyPI as locked (uv ignores pip's find-links,
#   so a CPU-only torch wheel lying on the machine is never picked up);
# * compiles mmcv 2.1.0 with its ops from source the first time (about 9 min
#   on 2 cores, MAX_JOBS = cores), printing progress; uv caches the wheel, so
#   every later run (and every later venv on this machine) takes seconds.
set -euo pipefail

UV_VERSION=0.13.9
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# -- uv -----------------------------------------------------------------------
if command -v uv >/dev/null 2>&1; then
    UV=$(command -v uv)
elif [ -x .tools/bin/uv ]; then
    UV=$ROOT/.tools/bin/uv
else
    say "bootstrapping uv ${UV_VERSION} into .tools/"
    command -v python3 >/dev/null 2>&1 || die "python3 (>= 3.10) is required"
    python3 -m pip install --quiet --disable-pip-version-check \
        --target .tools "uv==${UV_VERSION}" \
        || die "could not install uv from PyPI; install it by hand (https://docs.astral.sh/uv/) and re-run"
    UV=$ROOT/.tools/bin/uv
fi

# -- is mmcv (with ops) already in the venv? ------------------------------------
mmcv_ok() {
    [ -x .venv/bin/python ] && .venv/bin/python - <<'PY' >/dev/null 2>&1
import mmcv, mmcv.ops  # noqa: F401  (mmcv.ops fails without the compiled _ext)
from mmcv.ops import RoIAlign  # noqa: F401
assert mmcv.__version__ == '2.1.0'
PY
}

# mmalfm/.mim (links to configs/, tools/, model-index.yml, what `mim` and
# `mmalfm::` paths use) comes from the editable build of mmalfm (setup.py);
# uv rebuilds only when pyproject.toml/setup.py change, so remake it if gone.
mim_links() {
    [ -e mmalfm/.mim/model-index.yml ] || "$UV" sync --frozen --quiet --reinstall-package mmalfm
}

export MAX_JOBS=${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}
export UV_PYTHON=${UV_PYTHON:-python3}

if mmcv_ok; then
    "$UV" sync --frozen --quiet
    mim_links
    say "environment ready: $ROOT/.venv"
    exit 0
fi

# Everything but mmcv first: fast, and it gives the build the right torch.
say "installing the locked stack (torch/torchvision from PyPI; a few GB on a cold cache)"
"$UV" sync --frozen --no-install-package mmcv

# mmcv: compiled once with its C++ ops, then served from uv's cache.
command -v "${CXX:-c++}" >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || die \
    "no C++ compiler found: mmcv 2.1.0 must be compiled with its ops. Install one (Debian/Ubuntu: 'apt-get install -y build-essential') and re-run."
say "installing mmcv 2.1.0 (first time on this machine: compiled from source with its ops, ~9 min on 2 cores, MAX_JOBS=${MAX_JOBS}; cached afterwards)"
cache_dir=$("$UV" cache dir)
start=$SECONDS
(
    # Progress ticker: objects compiled so far out of the C++ sources to build.
    while sleep 30; do
        src=$(ls -d "$cache_dir"/sdists-*/pypi/mmcv/2.1.0/*/src 2>/dev/null | head -n1 || true)
        if [ -n "$src" ]; then
            total=$(find "$src/mmcv/ops/csrc/pytorch" -name '*.cpp' -not -path '*npu*' -not -path '*mlu*' -not -path '*mps*' -not -path '*musa*' -not -path '*cuda*' 2>/dev/null | wc -l)
            done_=$(find "$src/build" -name '*.o' 2>/dev/null | wc -l)
            say "  mmcv build: ${done_}/${total} objects, $((SECONDS - start)) s"
        else
            say "  mmcv: $((SECONDS - start)) s"
        fi
    done
) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
"$UV" sync --frozen || die "mmcv failed to build; see the compiler output above (needs setuptools<81, a C++17 compiler and the Python headers)"
kill $ticker 2>/dev/null || true
mim_links
mmcv_ok || die "mmcv installed but its compiled ops do not import: run '.venv/bin/python -c \"import mmcv.ops\"' to see why"
say "environment ready in $((SECONDS - start)) s: $ROOT/.venv"
