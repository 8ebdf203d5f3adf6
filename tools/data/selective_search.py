# Copyright (c) mmalfm contributors. All rights reserved.
"""Generate SoCo's offline selective-search proposals for an image set.

Usage::

    python tools/data/selective_search.py IMG_DIR_OR_COCO_JSON OUT.json \
        [--img-prefix DIR] [--nproc N] [--max-side 0|S] \
        [--method skimage|opencv-fast|reference] \
        [--filter ratio3size0308post|none|ratio<r>size<lo><hi>[post]] \
        [--shard-dir DIR] [--throughput] [--num-parts N --part I]

The command line of :func:`mmalfm.apis.selective_search.main`, where the
work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.selective_search import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
