# Copyright (c) mmalfm contributors. All rights reserved.
"""The end-to-end CPU demo (``make demo``): demo data -> proposals ->
pretraining -> export -> fine-tuning on a fraction of the labels ->
evaluation -> ``WORK_DIR/report.md`` with plots. Resumable.

    python tools/demo/run_demo.py [--methods alfm [soco ... CONFIG.py]] \
        [--work-dir work_dirs/demo] [--data data/demo] \
        [--label-fraction 0.25] [--finetune-iters 300] [--finetune-seeds 2] \
        [--tiny]

The demo lives in :mod:`mmalfm.apis.demo` (its stages, records and report);
this is its command line.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.demo import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
