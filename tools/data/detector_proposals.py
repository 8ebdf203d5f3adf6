# Copyright (c) mmalfm contributors. All rights reserved.
"""Region proposals from any MMDetection detector, in the proposal format.

Usage::

    python tools/data/detector_proposals.py CONFIG CHECKPOINT \
        IMG_DIR_OR_COCO_JSON OUT [--img-prefix DIR] [--score-thr 0.05] \
        [--max-per-img 100] [--device auto|cpu|cuda:0] \
        [--num-parts N --part I] [--cfg-options KEY=VALUE ...]

    # distributed: one part per rank, merged by rank 0 at the end
    torchrun --nproc_per_node 8 tools/data/detector_proposals.py \
        CONFIG CHECKPOINT SRC OUT --launcher pytorch

The command line of :func:`mmalfm.apis.detector_proposals.main`, where the
work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.detector_proposals import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
