# Copyright (c) mmalfm contributors. All rights reserved.
"""Region probe: linear / kNN / box-regression probes on the frozen region
features of a pretrained backbone (docs/user_guides/region_probe.md).

Usage::

    python tools/analysis/region_probe.py [CONFIG_OR_CHECKPOINT] \
        [--config DETECTOR_CONFIG] [--data-root DIR] \
        [--features auto|fpn|backbone] [--pool flatten|avg] \
        [--levels assigned|all] [--folds 5] [--max-images N] \
        [--scale LONG SHORT] [--k 20] [--ridge 0.1] [--no-box] \
        [--box-jitters 2] [--seed 0] [--jitter-seed 0] [--threads 1] \
        [--json OUT] [--cfg-options k=v ...]

The command line of :func:`mmalfm.evaluation.region_probe_cli.main`, where the
work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.evaluation.region_probe_cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
