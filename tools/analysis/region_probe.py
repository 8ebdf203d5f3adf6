# Copyright (c) mmalfm contributors. All rights reserved.
"""Region probe: linear / kNN / box-regression probes on the frozen region
features of a pretrained backbone (docs/user_guides/region_probe.md).

Options: ``python tools/analysis/region_probe.py --help``. The command line of
:func:`mmalfm.evaluation.region_probe_cli.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.evaluation.region_probe_cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
