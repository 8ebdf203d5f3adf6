# Copyright (c) mmalfm contributors. All rights reserved.
"""Export the online network of a pretraining checkpoint for detectron2.

    python tools/model_converters/export_to_detectron2.py CKPT OUT.pkl \
        [--with-neck] [--with-head] [--c4] [--method auto|soco|...]

Writes detectron2's model-zoo format ``{'model': {name: ndarray},
'__author__': ..., 'matching_heuristics': True}`` (``.pkl``; any other
suffix: ``torch.save`` of tensors) with detectron2 names; how to load it is
in docs/user_guides/transfer.md.

Exit status: 0 written; 1 bad input (missing file, no weights, other
method).

The command line of :func:`mmalfm.apis.export_detectron2_cli.main`, where
the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.export_detectron2_cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
