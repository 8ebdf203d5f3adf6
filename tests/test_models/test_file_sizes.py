# Copyright (c) mmalfm contributors. All rights reserved.
"""The algorithm files stay small: each at most ``MAX_LINES`` lines.

An algorithm file orchestrates one training step; the pieces it uses
(losses, masks, heads, checks) live in ``mmalfm/models/losses|utils|heads``
as modules with one job. A file that grows past the limit should move a
piece out, not raise the limit.
"""
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[2]
ALGORITHMS = REPO / 'mmalfm' / 'models' / 'algorithms'
MAX_LINES = 250


def too_long(folder: Path, limit: int) -> List[Tuple[str, int]]:
    """``(path relative to the repository, line count)`` of every ``.py``
    file under ``folder`` longer than ``limit`` lines, sorted by path."""
    out = []
    for path in sorted(folder.rglob('*.py')):
        n = len(path.read_text(encoding='utf-8').splitlines())
        if n > limit:
            out.append((path.relative_to(folder.parents[2]).as_posix(), n))
    return out


def test_no_algorithm_file_exceeds_the_limit():
    files = sorted(p.name for p in ALGORITHMS.glob('*.py'))
    # the four methods and their shared base are among the checked files
    assert {'alfm.py', 'base.py', 'crosscl.py', 'dupr.py',
            'soco.py'} <= set(files)
    bad = too_long(ALGORITHMS, MAX_LINES)
    assert not bad, 'algorithm files over {} lines (move a piece into ' \
        'mmalfm/models/losses|utils|heads): {}'.format(
            MAX_LINES, ', '.join(f'{p} ({n} lines)' for p, n in bad))


def test_the_check_names_each_long_file_and_its_length(tmp_path):
    folder = tmp_path / 'mmalfm' / 'models' / 'algorithms'
    folder.mkdir(parents=True)
    (folder / 'short.py').write_text('x = 1\n' * MAX_LINES)
    (folder / 'long.py').write_text('x = 1\n' * (MAX_LINES + 1))
    (folder / 'notes.txt').write_text('x\n' * 1000)
    assert too_long(folder, MAX_LINES) == [
        ('mmalfm/models/algorithms/long.py', MAX_LINES + 1)
    ]
