# Copyright (c) mmalfm contributors. All rights reserved.
"""Benchmark ProposalDataset on a binary proposal store vs a JSON file.

Options: ``python tools/analysis/benchmark_proposals.py --help``. The command
line of :func:`mmalfm.apis.benchmark_proposals.main`, where the work is done
(what each measurement does is described there). See ``docs/benchmarks.md``.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.benchmark_proposals import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
