# Copyright (c) mmalfm contributors. All rights reserved.
"""Merge the part files of a multi-machine proposal run into one output.

Usage::

    python tools/data/merge_proposals.py OUT [--num-parts N]
        [--allow-mixed-meta]

Finds ``OUT-without-.json.partIIIII-of-NNNNN.json`` (written by
``tools/data/selective_search.py`` or ``tools/data/detector_proposals.py``
with ``--num-parts N --part I``), checks that every part is there exactly
once, holds exactly its block of the image list and was made with the same
parameters, and writes ``OUT`` (a JSON file for ``.json``, else a proposal
store folder) equal to what a single run writes. A missing, duplicated or
wrong part is an error naming it and the command that redoes it; ``OUT`` is
then not written. The part files are kept (delete them after checking
``OUT``). See ``docs/advanced_guides/proposals.md``.
"""
import argparse
import sys
from typing import List, Optional

from mmalfm.datasets.proposals import PartError, merge_parts


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Merge proposal part files (--num-parts/--part runs) '
        'into OUT (.json: JSON; otherwise a proposal store folder).')
    parser.add_argument('out', help='the final output, as given to the '
                        'proposal tool')
    parser.add_argument(
        '--num-parts', type=int,
        help='merge the parts of this partition (when part files of '
        'several are there)')
    parser.add_argument(
        '--allow-mixed-meta', action='store_true',
        help='merge parts whose meta differs (e.g. library versions); '
        'every part\'s value is kept in meta.mixed_meta')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        summary = merge_parts(args.out, args.num_parts,
                              args.allow_mixed_meta, log=print)
    except PartError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {args.out}: {summary["num_images"]} images from '
          f'{summary["num_parts"]} parts, {summary["with_proposals"]} with '
          f'proposals, {summary["empty"]} empty, {summary["failed"]} '
          'failed')
    return 0

