# Copyright (c) mmalfm contributors. All rights reserved.
"""Draw a pretraining config's views and regions, to check matching by eye.

Usage::

    python tools/analysis/browse_views.py CONFIG \
        [--data-root data/demo/coco] \
        [--ann-file annotations/instances_train2017.json] \
        [--img-prefix train2017/] [--proposals FILE.json] [--num 8] \
        [--seed 0] [--out work_dirs/browse_views] [--scale 2] \
        [--cfg-options k=v ...]

The command line of :func:`mmalfm.apis.browse_views_cli.main`, where the
work is done; see ``docs/advanced_guides/browse_views.md``.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.browse_views_cli import main  # noqa: E402

if __name__ == '__main__':
    main()
