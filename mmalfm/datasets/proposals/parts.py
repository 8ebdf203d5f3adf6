# Copyright (c) mmalfm contributors. All rights reserved.
"""Proposals on many machines: split the image list, merge the parts.

**Partition.** Part ``I`` of ``N`` is the contiguous block
``rels[I * M // N:(I + 1) * M // N]`` of the tool's image list (``M``
images; a folder walked in sorted order, a COCO json by image id): blocks
differ in size by at most one image, and the merged file is the parts'
contents one after the other, so merging streams one part at a time and
gives exactly the file a single run writes.

**Part files.** Part ``I`` writes ``BASE.partIIIII-of-NNNNN.json`` next to
the output (``BASE`` is ``OUT`` without ``.json``), an ordinary proposal
file whose ``meta.part`` records::

    {"index": I, "num_parts": N, "num_images": M, "start": a, "end": b,
     "list_digest": sha256 of the whole list,
     "keys_digest": sha256 of the part's sorted keys,
     "redo": "the command that redoes a part, with {part} for I"}

**Merge** (:func:`merge_parts`) checks that every part of one partition is
there exactly once, that each holds exactly its block's images (with boxes,
empty or failed), that all were made from the same image list and with the
same parameters (``meta`` apart from the counts), then writes ``OUT`` (JSON
or store by its path) with ``meta`` as a single run writes it (counts
summed, ``meta.part`` dropped).

**Slurm.** :func:`resolve_part` reads ``SLURM_ARRAY_TASK_COUNT`` /
``SLURM_ARRAY_TASK_ID`` (minus ``SLURM_ARRAY_TASK_MIN``, over
``SLURM_ARRAY_TASK_STEP``) when no part is given.
"""
import glob
import hashlib
import os
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .files import open_writer
from .filters import sort_stages
from .io import read_proposal_file
from .store import ProposalStoreWriter

__all__ = [
    'PartError', 'part_range', 'part_path', 'part_base', 'resolve_part',
    'list_digest', 'keys_digest', 'part_block', 'find_parts', 'merge_parts'
]

#: ``meta`` counts a merge adds up.
SUMMED = ('num_images', 'num_with_proposals', 'num_empty', 'num_failed')
#: ``meta`` dicts of counts a merge adds up (in :func:`sort_stages` order).
SUMMED_DICTS = ('filter_stages', )

_PART_RE = re.compile(r'\.part(\d+)-of-(\d+)\.json$')


class PartError(ValueError):
    """A partition or merge problem; the message names the part and the
    command that fixes it."""


def part_range(num_items: int, num_parts: int,
               index: int) -> Tuple[int, int]:
    """``[start, end)`` of part ``index`` of ``num_parts`` contiguous blocks
    of ``num_items`` (sizes differ by at most one)."""
    return (index * num_items // num_parts,
            (index + 1) * num_items // num_parts)


def part_base(out: str) -> str:
    """``out`` without ``.json`` (or a trailing ``/``)."""
    out = out.rstrip('/') or out
    return out[:-len('.json')] if out.endswith('.json') else out


def part_path(out: str, index: int, num_parts: int) -> str:
    """The part file of part ``index`` of ``num_parts`` for ``out``:
    ``BASE.partIIIII-of-NNNNN.json``."""
    return f'{part_base(out)}.part{index:05d}-of-{num_parts:05d}.json'


def _env_int(env: Mapping[str, str], name: str,
             default: Optional[int] = None) -> Optional[int]:
    value = env.get(name)
    if value in (None, ''):
        return default
    try:
        return int(value)
    except ValueError:
        raise PartError(f'{name}={value!r} is not an integer') from None


def resolve_part(num_parts: Optional[int] = None,
                 part: Optional[int] = None,
                 environ: Optional[Mapping[str, str]] = None
                 ) -> Optional[Tuple[int, int]]:
    """Which part of how many this process computes.

    * ``num_parts`` and ``part`` given: those (any scheduler).
    * ``num_parts`` given alone: ``part`` is ``SLURM_ARRAY_TASK_ID``, so the
      array's task ids are the part numbers (``sbatch --array=0-9`` for 10
      parts; ``--array=3,7`` redoes parts 3 and 7).
    * neither: in a Slurm array job the array is the partition:
      ``N = SLURM_ARRAY_TASK_COUNT`` and ``I = (SLURM_ARRAY_TASK_ID -
      SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP`` (ids need not start
      at 0); outside one, None (no partition).

    Args:
        num_parts (int, optional): ``--num-parts``.
        part (int, optional): ``--part``.
        environ (Mapping, optional): Defaults to ``os.environ``.

    Returns:
        tuple[int, int] | None: ``(num_parts, part)``.

    Raises:
        PartError: Inconsistent values, naming the fix.
    """
    env = os.environ if environ is None else environ
    if num_parts is None and part is None:
        count = _env_int(env, 'SLURM_ARRAY_TASK_COUNT')
        task = _env_int(env, 'SLURM_ARRAY_TASK_ID')
        if count is None or task is None:
            return None
        first = _env_int(env, 'SLURM_ARRAY_TASK_MIN', 0)
        step = _env_int(env, 'SLURM_ARRAY_TASK_STEP', 1) or 1
        index, rest = divmod(task - first, step)
        if rest or not 0 <= index < count:
            raise PartError(
                f'Slurm array task {task} (min {first}, step {step}, '
                f'{count} tasks) is not one of a contiguous range of task '
                'ids: submit the array as --array=0-(N-1), or pass '
                '--num-parts N (the task ids are then the part numbers) or '
                '--num-parts N --part I')
        return count, index
    if num_parts is None:
        raise PartError('--part needs --num-parts (the number of parts of '
                        'the partition)')
    if num_parts < 1:
        raise PartError(f'--num-parts must be >= 1, got {num_parts}')
    if part is None:
        part = _env_int(env, 'SLURM_ARRAY_TASK_ID')
        if part is None:
            raise PartError(
                f'--num-parts {num_parts} needs --part I (0 <= I < '
                f'{num_parts}), or a Slurm array job whose task ids are the '
                'part numbers')
        where = ' (SLURM_ARRAY_TASK_ID: with --num-parts the task ids are ' \
            f'the part numbers, submit --array=0-{num_parts - 1})'
    else:
        where = ''
    if not 0 <= part < num_parts:
        raise PartError(f'part {part} is not in [0, {num_parts}){where}')
    return num_parts, part


def _digest(lines: Sequence[str]) -> str:
    return hashlib.sha256('\n'.join(lines).encode('utf-8')).hexdigest()


def list_digest(keys: Sequence[str]) -> str:
    """sha256 of the image list, in order."""
    return _digest(keys)


def keys_digest(keys: Sequence[str]) -> str:
    """sha256 of a set of image keys (sorted)."""
    return _digest(sorted(keys))


def part_block(rels: Sequence[str], num_parts: int, index: int,
               redo: str) -> Tuple[List[str], dict]:
    """A part's images and the ``meta.part`` block recording it.

    Args:
        rels (Sequence[str]): The whole image list, in the tool's order.
        num_parts (int): ``N``.
        index (int): ``I``.
        redo (str): The command that computes a part, ``{part}`` standing
            for its index.

    Returns:
        tuple[list[str], dict]: The part's images and ``meta.part``.
    """
    start, end = part_range(len(rels), num_parts, index)
    keys = list(rels[start:end])
    return keys, dict(
        index=index,
        num_parts=num_parts,
        num_images=len(rels),
        start=start,
        end=end,
        list_digest=list_digest(rels),
        keys_digest=keys_digest(keys),
        redo=redo)


def find_parts(out: str) -> Dict[Tuple[int, int], List[str]]:
    """The part files of ``out``: ``{(index, num_parts): [paths]}``."""
    base = part_base(out)
    found: Dict[Tuple[int, int], List[str]] = {}
    for path in sorted(glob.glob(glob.escape(base) + '.part*-of-*.json')):
        match = _PART_RE.search(path[len(base):])
        if match and path[len(base):].startswith('.part'):
            key = (int(match[1]), int(match[2]))
            found.setdefault(key, []).append(path)
    return found


def _redo(template: Optional[str], index: int) -> str:
    if not template:
        return (f'the proposal tool with the same arguments and '
                f'--part {index}')
    return '`' + template.replace('{part}', str(index)) + '`'


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


class _Merge:
    """One merge: the checks and the running totals (see
    :func:`merge_parts`)."""

    def __init__(self, out: str, num_parts: int, files: Dict[int, str],
                 allow_mixed_meta: bool) -> None:
        self.out = out
        self.num_parts = num_parts
        self.files = files
        self.allow_mixed_meta = allow_mixed_meta
        self.first: Optional[dict] = None
        self.template: Optional[str] = None
        self.seen: set = set()
        self.empty: List[str] = []
        self.failed: Dict[str, str] = {}
        self.sums: Dict[str, int] = {}
        self.dict_sums: Dict[str, Dict[str, int]] = {}
        self.mixed: Dict[str, Dict[str, object]] = {}

    def redo(self, index: int) -> str:
        return _redo(self.template, index)

    def fail(self, index: int, what: str) -> None:
        path = self.files.get(index) or part_path(self.out, index,
                                                   self.num_parts)
        raise PartError(f'{path!r} (part {index} of {self.num_parts}): '
                        f'{what}. '
                        f'Redo the part with {self.redo(index)}, then merge '
                        'again.')

    def check(self, index: int, record: dict) -> dict:
        """Check one part's record against its block and the first part;
        return its ``meta.part``."""
        block = record['meta'].get('part')
        if not isinstance(block, dict):
            self.fail(index, 'it has no "meta.part": not a part file')
        self.template = self.template or block.get('redo')
        if block.get('index') != index or block.get(
                'num_parts') != self.num_parts:
            self.fail(
                index, f'it holds part {block.get("index")} of '
                f'{block.get("num_parts")} (a copied or renamed file: that '
                'part is there twice, this one is missing); delete it')
        first = self.first or block
        if (block.get('list_digest'), block.get('num_images')) != (
                first.get('list_digest'), first.get('num_images')):
            self.fail(
                index, f'it was made from another image list than part '
                f'{first["index"]} ({block.get("num_images")} vs '
                f'{first.get("num_images")} images, or other keys)')
        start, end = part_range(first['num_images'], self.num_parts, index)
        keys = list(record['images'])
        keys += [k for k in record['failed'] if k not in record['images']]
        if (block.get('start'), block.get('end')) != (start, end) or len(
                keys) != end - start or keys_digest(keys) != block.get(
                    'keys_digest'):
            self.fail(
                index, f'it does not hold exactly the {end - start} images '
                f'of its block [{start}, {end}) of the list ({len(keys)} '
                'with boxes, empty or failed)')
        twice = [k for k in keys if k in self.seen]
        if twice:
            self.fail(index, f'{len(twice)} of its images are in an earlier '
                      f'part too, e.g. {twice[0]!r}')
        self.seen.update(keys)
        if self.first is None:
            self.first = block
        return block

    def common_meta(self, meta: dict) -> dict:
        return {k: v for k, v in meta.items()
                if k != 'part' and k not in SUMMED and k not in SUMMED_DICTS}

    def add_meta(self, index: int, record: dict, reference: dict) -> None:
        """Add up the counts; refuse other parameters."""
        meta = record['meta']
        for key in SUMMED:
            if isinstance(meta.get(key), int):
                self.sums[key] = self.sums.get(key, 0) + meta[key]
        for key in SUMMED_DICTS:
            if isinstance(meta.get(key), dict):
                total = self.dict_sums.setdefault(key, {})
                for k, v in meta[key].items():
                    total[k] = total.get(k, 0) + int(v)
        ours, theirs = self.common_meta(meta), self.common_meta(reference)
        for key in sorted(set(ours) | set(theirs)):
            if ours.get(key) == theirs.get(key):
                continue
            if not self.allow_mixed_meta:
                self.fail(
                    index, f'its meta.{key} is {_short(ours.get(key))}, part '
                    f'0 has {_short(theirs.get(key))}: the parts were made '
                    'with other parameters or in another environment '
                    '(proposals are not bit-reproducible across library '
                    'versions); --allow-mixed-meta merges anyway (keeping '
                    "every part's value in meta.mixed_meta)")
            self.mixed.setdefault(key, {'0': theirs.get(key)})[str(
                index)] = ours.get(key)

    def final_meta(self, reference: dict) -> dict:
        meta = {}
        for key, value in reference.items():
            if key == 'part':
                continue
            if key in self.sums:
                value = self.sums[key]
            elif key in self.dict_sums:
                value = sort_stages(self.dict_sums[key])
            meta[key] = value
        if self.mixed:
            meta['mixed_meta'] = self.mixed
        return meta


def _select_partition(out: str, found: Dict[Tuple[int, int], List[str]],
                      num_parts: Optional[int]) -> Tuple[int, Dict[int, str]]:
    """The partition to merge and its files by index."""
    base = part_base(out)
    if not found:
        raise PartError(
            f'no part files {base}.partIIIII-of-NNNNN.json found for '
            f'{out!r}: run the proposal tool with --num-parts N --part I '
            '(or as a Slurm array) first')
    sizes = sorted({n for _, n in found})
    if num_parts is None:
        if len(sizes) > 1:
            counts = ', '.join(
                f'N={n} ({sum(1 for _, m in found if m == n)} files)'
                for n in sizes)
            raise PartError(
                f'part files of several partitions for {out!r}: {counts}. '
                'Delete the stale ones, or pass --num-parts N to merge one')
        num_parts = sizes[0]
    files: Dict[int, str] = {}
    for (index, n), paths in sorted(found.items()):
        if n != num_parts:
            continue
        if index >= num_parts:
            raise PartError(f'{paths[0]!r}: part {index} of {n} does not '
                            'exist (a renamed file?); delete it')
        if len(paths) > 1:
            raise PartError(
                f'part {index} of {num_parts} is there twice: '
                f'{" and ".join(map(repr, paths))}. Delete the wrong one '
                f'(or both and redo the part)')
        files[index] = paths[0]
    if not files:
        raise PartError(f'no part file of {num_parts} parts for {out!r} '
                        f'(found N={", ".join(map(str, sizes))})')
    return num_parts, files


def merge_parts(out: str,
                num_parts: Optional[int] = None,
                allow_mixed_meta: bool = False,
                log: Optional[Callable[[str], None]] = None) -> dict:
    """Merge the part files of ``out`` into ``out`` (JSON or store by its
    path), checking that every image is there exactly once.

    Args:
        out (str): The final output (``.json`` file or store folder).
        num_parts (int, optional): Merge this partition (when part files of
            several are there). Defaults to the only one found.
        allow_mixed_meta (bool): Merge parts whose ``meta`` differs (e.g.
            library versions); part 0's values are kept and every part's in
            ``meta.mixed_meta``. Defaults to False (an error).
        log (callable, optional): Progress messages.

    Returns:
        dict: ``num_parts``, ``num_images``, ``with_proposals``, ``empty``,
        ``failed``, ``parts`` (the files).

    Raises:
        PartError: A part is missing, there twice, holds other images or
            was made with other parameters; the message names the part and
            the command that redoes it. ``out`` is not written then.
    """
    num_parts, files = _select_partition(out, find_parts(out), num_parts)
    merge = _Merge(out, num_parts, files, allow_mixed_meta)
    missing = [i for i in range(num_parts) if i not in files]
    if missing:
        any_part = read_proposal_file(files[min(files)])
        merge.template = (any_part['meta'].get('part') or {}).get('redo')
        lines = '; '.join(
            f'part {i} ({part_path(out, i, num_parts)!r}): '
            f'{merge.redo(i)}' for i in missing[:10])
        more = f' (and {len(missing) - 10} more)' if len(missing) > 10 \
            else ''
        raise PartError(
            f'{len(missing)} of the {num_parts} parts of {out!r} are '
            f'missing: {lines}{more}. Run those, then merge again.')
    writer = None
    reference = None
    try:
        for index in range(num_parts):
            record = read_proposal_file(files[index])
            merge.check(index, record)
            if reference is None:
                reference = record['meta']
                box_format = record['box_format']
                integer = True
                writer = open_writer(out, box_format)
            if record['box_format'] != box_format:
                merge.fail(index, f'its boxes are {record["box_format"]}, '
                           f'part 0 has {box_format}')
            merge.add_meta(index, record, reference)
            integer = integer and record['integer']
            for key, boxes in record['images'].items():
                writer.add(key, boxes.astype('int64') if record['integer']
                           and boxes.size else boxes)
            merge.empty += record['empty']
            merge.failed.update(record['failed'])
            if log:
                log(f'part {index} of {num_parts}: '
                    f'{len(record["images"])} images, '
                    f'{len(record["failed"])} failed ({files[index]})')
            del record
        meta = merge.final_meta(reference)
        if isinstance(writer, ProposalStoreWriter):
            writer.close(merge.empty, merge.failed, meta, integer=integer)
        else:
            writer.close(merge.empty, merge.failed, meta)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    total = merge.first['num_images']
    return dict(
        num_parts=num_parts,
        num_images=total,
        with_proposals=total - len(merge.failed) - len(merge.empty),
        empty=len(merge.empty),
        failed=len(merge.failed),
        parts=[files[i] for i in range(num_parts)])
