# Copyright (c) mmalfm contributors. All rights reserved.
"""Fine-tune one benchmark config with several seeds; report mean +- std.

Usage::

    python tools/benchmarks/run_seeds.py CONFIG --seeds 0 1 2 \
        [--work-dir DIR] [--gpus N] [--metrics KEY ...] [--summary-only] \
        [-- EXTRA TRAIN ARGS]

Each seed trains into ``DIR/seed{S}`` with ``tools/train.py`` (``--gpus N``:
``tools/dist_train.sh``) and ``--cfg-options randomness.seed=S``; the
table and ``DIR/summary.json`` give per-seed metrics, mean and sample
standard deviation (docs/user_guides/benchmarks_detection.md).

The command line of :func:`mmalfm.apis.run_seeds.main`, where the work is
done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.run_seeds import main  # noqa: E402

if __name__ == '__main__':
    main()
