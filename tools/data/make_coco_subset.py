# Copyright (c) mmalfm contributors. All rights reserved.
"""Write a labelled-COCO subset (e.g. 10 %, 5 %, 1 %) annotation file.

Options: ``python tools/data/make_coco_subset.py --help``. The command line of
:func:`mmalfm.apis.coco_subset.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.coco_subset import main  # noqa: E402

if __name__ == '__main__':
    main()
