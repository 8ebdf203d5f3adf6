# Copyright (c) mmalfm contributors. All rights reserved.
"""Write a labelled-COCO subset (e.g. 10 %, 5 %, 1 %) annotation file.

Usage::

    python tools/data/make_coco_subset.py ANN OUT --percent P [--seed S]

    python tools/data/make_coco_subset.py \
        data/coco/annotations/instances_train2017.json \
        data/coco/annotations/instances_train2017_10pct_seed1.json \
        --percent 10 --seed 1

The command line of :func:`mmalfm.apis.coco_subset.main`, where the
work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.coco_subset import main  # noqa: E402

if __name__ == '__main__':
    main()
