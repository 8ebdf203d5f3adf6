# Copyright (c) mmalfm contributors. All rights reserved.
"""The demo's entry points: :func:`run_demo` runs a plan, :func:`main` is
the command line (``tools/demo/run_demo.py``)."""
import os.path as osp
import signal
import sys
import warnings
from typing import Optional, Sequence

from .options import (DemoError, DemoOptions, check_pieces, make_options,
                      parse_args)
from .plan import build_plan
from .records import Progress, run_stage
from .report import repo_relative


def run_demo(opts: DemoOptions, stream=None) -> str:
    """Run every stage of ``opts`` (skipping finished ones).

    Returns:
        str: The path of ``report.md``.
    """
    progress = Progress(0, stream)
    progress.say(0, f'methods {", ".join(opts.methods)} + random init; '
                 f'work dir {repo_relative(opts.work_dir)}; '
                 f'data {repo_relative(opts.data)}'
                 + (' (tiny)' if opts.tiny else ''))
    opts.configs = check_pieces(opts)
    plan = build_plan(opts)
    progress.total = len(plan)
    for index, stage in enumerate(plan, 1):
        run_stage(opts, stage, index, progress)
    report = osp.join(opts.work_dir, 'report.md')
    progress.say(0, f'report: {repo_relative(report)}')
    return report


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point; returns the exit status."""
    # mmengine/mmcv import pkg_resources; the warning is noise here
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
    # `kill` (SIGTERM) like Ctrl-C: stop the running tool, record the
    # attempt's time, leave everything resumable
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        opts = make_options(parse_args(argv))
        run_demo(opts)
    except DemoError as err:
        print(f'[demo] error: {err}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('[demo] interrupted; run the same command again to resume',
              file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
