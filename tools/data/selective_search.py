# Copyright (c) mmalfm contributors. All rights reserved.
"""Generate SoCo's offline selective-search proposals for an image set.

Options: ``python tools/data/selective_search.py --help``. The command line of
:func:`mmalfm.apis.selective_search.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.selective_search import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
