# Copyright (c) mmalfm contributors. All rights reserved.
"""Export the online network of a pretraining checkpoint for detectron2.

Options: ``python tools/model_converters/export_to_detectron2.py --help``. The
command line of :func:`mmalfm.apis.export_detectron2_cli.main`, where the work
is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.export_detectron2_cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
