# Copyright (c) mmalfm contributors. All rights reserved.
"""Export the online network of a pretraining checkpoint for MMDetection.

    python tools/model_converters/export_to_mmdet.py CKPT OUT \
        [--with-neck] [--with-head] [--c4] [--check DETECTOR_CONFIG] \
        [--method auto|soco|alfm|crosscl|dupr|byol|mocov2|densecl]

Writes ``{'state_dict': ..., 'meta': ...}`` with whole-detector keys
(``backbone.*`` [+ ``neck.*``] [+ ``roi_head.bbox_head.shared_convs/fcs.*``]
or, with ``--c4``, res5 as ``roi_head.shared_head.layer4.*``), to be loaded
by a detector-level ``init_cfg`` (docs/user_guides/transfer.md)::

    model = dict(
        init_cfg=dict(type='mmalfm.PretrainedExport', checkpoint=OUT),
        backbone=dict(init_cfg=None))

Exit status: 0 written; 1 bad input (missing file, no weights, other
method); 2 ``--check`` failed (nothing written).

The command line of :func:`mmalfm.apis.export_mmdet_cli.main`, where the work
is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.export_mmdet_cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
