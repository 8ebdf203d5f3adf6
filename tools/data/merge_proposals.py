# Copyright (c) mmalfm contributors. All rights reserved.
"""Merge the part files of a multi-machine proposal run into one output.

Options: ``python tools/data/merge_proposals.py --help``. The command line of
:func:`mmalfm.apis.merge_proposals.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.merge_proposals import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
