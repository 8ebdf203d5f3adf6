# Copyright (c) mmalfm contributors. All rights reserved.
"""Evaluate a checkpoint (e.g. a fine-tuned detector) with a config's test
loop, OpenMMLab-style.

Options: ``python tools/test.py --help``. The command line of
:func:`mmalfm.apis.test.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmalfm.apis.test import main  # noqa: E402

if __name__ == '__main__':
    main()
