# Copyright (c) mmalfm contributors. All rights reserved.
"""Generate a small, deterministic synthetic detection data set.

Options: ``python tools/data/make_demo_data.py --help``. The command line of
:func:`mmalfm.apis.demo_data.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.demo_data import main, make_demo_data  # noqa: E402,F401

if __name__ == '__main__':
    main()
