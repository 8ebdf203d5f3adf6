# Copyright (c) mmalfm contributors. All rights reserved.
"""Draw a pretraining config's views and regions, to check matching by eye.

Options: ``python tools/analysis/browse_views.py --help``. The command line of
:func:`mmalfm.apis.browse_views_cli.main`, where the work is done; see
``docs/advanced_guides/browse_views.md``.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.browse_views_cli import main  # noqa: E402

if __name__ == '__main__':
    main()
