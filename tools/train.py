# Copyright (c) mmalfm contributors. All rights reserved.
"""Train (pretrain) a model from a config, OpenMMLab-style.

Examples::

    python tools/train.py configs/byol/byol_resnet18_1xb16-10e_demo.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume       # auto
    python tools/train.py CONFIG --resume work_dirs/x/iter_400.pth
    bash tools/dist_train.sh CONFIG 8 --amp --auto-scale-lr

The command line of :func:`mmalfm.apis.train.main`, where the
work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmalfm.apis.train import main  # noqa: E402

if __name__ == '__main__':
    main()
