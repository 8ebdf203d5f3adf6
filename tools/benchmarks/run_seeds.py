# Copyright (c) mmalfm contributors. All rights reserved.
"""Fine-tune one benchmark config with several seeds; report mean +- std.

Options: ``python tools/benchmarks/run_seeds.py --help``. The command line of
:func:`mmalfm.apis.run_seeds.main`, where the work is done.
"""
import os.path as osp
import sys

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.apis.run_seeds import main  # noqa: E402

if __name__ == '__main__':
    main()
