# Copyright (c) mmalfm contributors. All rights reserved.
"""Benchmark the real training step of a config, its data pipeline or
selective search.

Options: ``python tools/analysis/benchmark.py --help``. The command line of
:func:`mmalfm.apis.benchmark.main`, where the work is done (the modes and the
sections of a step are described in :mod:`mmalfm.apis.benchmark.cli`). See
``docs/benchmarks.md``.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.benchmark import main  # noqa: E402

if __name__ == '__main__':
    main()
