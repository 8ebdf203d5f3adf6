# Copyright (c) mmalfm contributors. All rights reserved.
"""Train (pretrain) a model from a config, OpenMMLab-style.

Options: ``python tools/train.py --help``. The command line of
:func:`mmalfm.apis.train.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmalfm.apis.train import main  # noqa: E402

if __name__ == '__main__':
    main()
