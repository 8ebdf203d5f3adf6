# Copyright (c) mmalfm contributors. All rights reserved.
"""Convert proposals between the JSON file and the binary store.

Usage::

    python tools/data/convert_proposals.py SRC DST

``SRC`` is a proposal JSON file (ours or SoCo's legacy one) or a store
folder; ``DST`` ending in ``.json`` gets a JSON file, any other path a store
folder. JSON -> store -> JSON gives back a canonical JSON file (as our
tools write it) byte for byte, any other file in canonical form with the
same content (see ``mmalfm.datasets.proposals.files``). A store is read in
chunks; a JSON file is parsed whole (at ImageNet scale merge the parts
straight into a store instead: ``tools/data/merge_proposals.py``).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmalfm.datasets.proposals import convert_proposals  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Proposal JSON <-> binary proposal store.')
    parser.add_argument('src', help='proposal .json file or store folder')
    parser.add_argument('dst', help='.json file, or any other path for a '
                        'store folder')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.exists(args.src):
        print(f'error: {args.src!r} does not exist', file=sys.stderr)
        return 1
    try:
        counts = convert_proposals(args.src, args.dst)
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {args.dst}: {counts["num_images"]} images, '
          f'{counts["empty"]} empty, {counts["failed"]} failed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
