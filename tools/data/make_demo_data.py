# Copyright (c) mmalfm contributors. All rights reserved.
"""Generate a small, deterministic synthetic detection data set.

Usage::

    python tools/data/make_demo_data.py [OUT_DIR] [--num-train 240] \
        [--num-val 60] [--seed 0] [--min-size 128] [--max-size 256]

The command line of :func:`mmalfm.apis.demo_data.main`, where the
work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.demo_data import main, make_demo_data  # noqa: E402,F401

if __name__ == '__main__':
    main()
