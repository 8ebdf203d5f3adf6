# Copyright (c) mmalfm contributors. All rights reserved.
"""Region proposals from any MMDetection detector, in the proposal format.

Options: ``python tools/data/detector_proposals.py --help``. The command line
of :func:`mmalfm.apis.detector_proposals.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.detector_proposals import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
