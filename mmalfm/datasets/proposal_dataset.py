# Copyright (c) mmalfm contributors. All rights reserved.
"""Images joined with offline region proposals (SoCo, ALFM)."""
import copy
import logging
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import is_main_process
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from mmalfm.registry import DATASETS
from .proposals.boxes import clean_boxes, image_boxes, to_xyxy
from .proposals.hints import fill_in_note, name_sample, tool_command
from .proposals.io import read_proposal_file
from .proposals.keys import norm_key as _norm_key
from .proposals.keys import stem as _stem
from .proposals.keys import unique_index as _unique_index
from .proposals.store import ProposalStore, is_store
from .seeding import SeededItemsMixin

__all__ = ['ProposalDataset']

_NO_BOXES = np.zeros((0, 4), np.float64)
#: Boxes read at a time when a store's boxes are checked at start-up.
_SCAN_CHUNK = 1 << 20


class _Joiner:
    """Finds an image's key in the file by relative path, then by basename,
    then by SoCo's basename stem (basename up to the first dot). A basename
    or stem shared by two keys of the file never matches (ImageNet and COCO
    have none).

    Args:
        keys (Iterable[str]): The file's normalised keys (``images``,
            ``failed`` and ``empty`` together).
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = set(keys)
        self.by_name = _unique_index(self.keys, osp.basename)
        self.by_stem = _unique_index(self.keys, _stem)

    def match(self, rel_path: str) -> Optional[str]:
        """The file's key for the image, or None when it has none."""
        key = _norm_key(rel_path)
        if key in self.keys:
            return key
        return self.by_name.get(osp.basename(key)) or self.by_stem.get(
            _stem(key))


@dataclass
class _Joined:
    """Where each image of the list stands in the proposal file.

    Attributes:
        boxes (list): JSON file: per image, its ``[n, 4]`` boxes as stored
            (``[0, 4]`` for an image listed as empty); None for a failed or
            missing one.
        failed (dict): Image index -> why the tool could not read it.
        missing (list): Indices of the images the file does not know.
        rows (np.ndarray, optional): Store: ``[N]`` int64 row of each image
            in the store, ``-1`` for no boxes (empty, failed or missing).
    """
    boxes: List[Optional[np.ndarray]] = field(default_factory=list)
    failed: Dict[int, str] = field(default_factory=dict)
    missing: List[int] = field(default_factory=list)
    rows: Optional[np.ndarray] = None


def _join(record: dict, rels: List[str]) -> _Joined:
    """Look every image up among the file's ``images``, ``failed`` and
    ``empty`` keys (an entry in ``images`` wins).

    Args:
        record (dict): :func:`read_proposal_file`'s record.
        rels (list[str]): Image paths relative to the image prefix.

    Returns:
        _Joined: Boxes, failed and missing images, in ``rels`` order.
    """
    images = {_norm_key(k): v for k, v in record['images'].items()}
    failed = {_norm_key(k): r for k, r in record['failed'].items()}
    empty = {_norm_key(k) for k in record['empty']}
    joiner = _Joiner(set(images) | set(failed) | empty)
    joined = _Joined()
    for i, rel in enumerate(rels):
        key = joiner.match(rel)
        if key in images:
            joined.boxes.append(images[key])
            continue
        joined.boxes.append(_NO_BOXES if key in empty else None)
        if key in failed:
            joined.failed[i] = failed[key]
        elif key not in empty:
            joined.missing.append(i)
    return joined


def _join_store(store: ProposalStore, rels: List[str]) -> _Joined:
    """:func:`_join` on a proposal store: binary searches over its sorted
    key arrays (same matching rules, no dictionary of the store's keys).

    Args:
        store (ProposalStore): The store.
        rels (list[str]): Image paths relative to the image prefix.

    Returns:
        _Joined: Store rows, failed and missing images, in ``rels`` order.
    """
    pos = store.lookup([_norm_key(r) for r in rels])  # no-op when normal
    rows = np.full(len(rels), -1, np.int64)
    found = pos >= 0
    rows[found] = store.array('index_rows')[pos[found]]
    failed = {_norm_key(k): r for k, r in store.failed.items()}
    empty = {_norm_key(k) for k in store.empty}
    joined = _Joined(rows=rows)
    for i in np.flatnonzero(rows < 0).tolist():
        key = store.index_key(pos[i]) if pos[i] >= 0 else None
        if key in failed:
            joined.failed[i] = failed[key]
        elif key not in empty:
            joined.missing.append(i)
    return joined


def _ragged_index(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``
    without the loop (int64)."""
    total = int(counts.sum())
    first = np.cumsum(counts) - counts
    return (np.repeat(starts, counts) + np.arange(total, dtype=np.int64) -
            np.repeat(first, counts)).astype(np.int64)


def _flat_xyxy(per_image: List[Optional[np.ndarray]],
               box_format: str) -> Tuple[np.ndarray, np.ndarray]:
    """All images' boxes as one ``[T, 4]`` float32 xyxy array.

    Args:
        per_image (list): Per image, an ``[n, 4]`` array as stored in the
            file, or None when the image has no boxes to read.
        box_format (str): ``'xywh'`` or ``'xyxy'``.

    Returns:
        tuple[np.ndarray, np.ndarray]: boxes ``[T, 4]`` and the ``[N]`` int64
        number of boxes of each image.
    """
    arrays = [_NO_BOXES if b is None else b for b in per_image]
    lengths = np.array([len(b) for b in arrays], dtype=np.int64)
    arr = np.concatenate(arrays, axis=0).astype(np.float32) if arrays \
        else np.zeros((0, 4), np.float32)
    # continuous corners: (x, y, x + w, y + h)
    return to_xyxy(arr, box_format), lengths


def _warn(msg: str) -> None:
    """A warning in the current logger, on the main process only."""
    if is_main_process():
        print_log(msg, logger='current', level=logging.WARNING)


@DATASETS.register_module()
class ProposalDataset(SeededItemsMixin, BaseDataset):
    """An image dataset joined with offline region proposals.

    Wraps an image dataset (``UnlabeledImageDataset``, built from
    ``dataset`` without a pipeline) and adds to every item
    ``proposals``: ``[P, 4]`` float32 ``(x1, y1, x2, y2)`` boxes in source
    pixels, continuous corners (``docs/advanced_guides/geometry.md``). The
    pipeline belongs to this dataset. The proposal file and what happens to
    every kind of image in it are described in
    ``docs/advanced_guides/proposals.md`` ("The dataset's contract").

    **Proposal file** (JSON, written by ``tools/data/selective_search.py``)::

        {"format": "mmalfm-proposals", "version": 1,
         "box_format": "xywh",            # or "xyxy"
         "images": {"<image path relative to the image prefix>":
                        [[x, y, w, h], ...], ...},
         "empty": ["<rel path>", ...],    # processed, no box kept
         "failed": {"<rel path>": "<why it could not be read>"},
         "meta": {...}}                   # provenance (tool parameters)

    or SoCo's legacy file ``{"n01440764_10026": [[x, y, w, h], ...], ...}``
    (xywh, **no** ``+1``: the box is ``(x, y, x + w, y + h)``), or a
    **proposal store**: a folder with the same content as flat binary
    arrays (:mod:`mmalfm.datasets.proposals.store`, written by the tools
    for any output path not ending in ``.json``), for ImageNet-scale data;
    an existing folder is read as a store, anything else as JSON. Images are
    joined by their path relative to the image prefix, falling back to the
    basename, then to SoCo's key, the basename up to its first dot
    (``basename(path).split('.')[0]``, what SoCo's loader looks up); a
    basename or stem occurring twice in the file never matches. A
    malformed file (not JSON, truncated, wrong structure, a box that is not
    4 numbers) raises an error naming the file.

    **Contract.** Every image of the wrapped dataset is one of:

    * *with boxes*: an entry in ``images`` (used after clipping and
      dropping, below);
    * *empty*: an empty list in ``images`` or listed under ``empty``: the
      tool ran and kept no box. It gets a ``[0, 4]`` array (the samplers'
      whole-image fallback);
    * *failed*: listed under ``failed`` (the tool could not read it). Known
      to the file, not missing; ``failed`` decides: ``'skip'`` (default)
      leaves it out of the dataset, ``'whole_image'`` keeps it with a
      ``[0, 4]`` array, ``'error'`` raises. Their number, up to 5 names and
      the reasons are logged once (the fix: re-encode or replace the image,
      then re-run the tool, which retries failed images);
    * *missing*: in none of the three. If fewer than ``min_found`` of the
      images are known to the file it is for another image set:
      ``ValueError`` naming both. Otherwise ``missing='error'`` (default)
      raises, naming up to 5 of them, the file and the tool command that
      fills them in (re-running it resumes from its shard folder);
      ``missing='whole_image'`` gives them a ``[0, 4]`` array and logs
      their number.

    Boxes are clipped at 0, and to the image when the item knows its
    ``width``/``height`` (COCO lists); boxes with non-positive size or
    non-finite values are dropped; both are counted and logged once.
    (``MultiViewCrop`` clips again to the decoded image.)

    **Guard.** After joining and dropping, the images of the dataset with
    no usable proposal (empty, failed or missing ones given the whole
    image, and those whose boxes were all dropped) are counted: a warning
    with their fraction and up to 5 names when there are any, and a
    ``ValueError`` (naming the file, the fraction, ``max_empty_fraction``
    and the fix for each kind) when the fraction is above
    ``max_empty_fraction``: SoCo/ALFM would then train mostly on the
    whole-image fallback box.

    Messages are logged on the main process only; errors are raised on
    every rank.

    **Memory.** JSON file: all boxes live in one flat float32 array
    ``[T, 4]`` (:attr:`boxes`) with ``int64`` offsets ``[N + 1]``
    (:attr:`offsets`; ``N`` images of the wrapped dataset, skipped ones
    included with no box); the items only keep an index into them, so
    MMEngine's serialised ``data_list`` stays small and forked workers
    share the boxes. Parsing the JSON costs far more than the arrays (about
    1 GB of peak memory per 5 M boxes, in every process that builds the
    dataset).

    Store: nothing is parsed. The join runs binary searches over the
    store's sorted key arrays (memory-mapped during start-up, unmapped
    after); the boxes are counted from per-image statistics (folder data
    sets) or read in chunks (lists with image sizes, to clip). The dataset
    then keeps two ``[N]`` arrays (store row, kept boxes) and reads an
    item's boxes when it is fetched, with ``os.pread`` on descriptors opened
    lazily in each process: a worker's memory does not grow with the items
    it reads. Samples, counts, logs and errors are the same as with the
    JSON file of the same content (``docs/benchmarks.md``: start-up and
    memory at ImageNet scale).

    Args:
        dataset (dict | BaseDataset): The image dataset; its ``pipeline``
            must be empty.
        proposal_file (str): The JSON file or the store folder (joined with
            ``data_root``).
        pipeline (list): The data pipeline.
        min_found (float): Smallest fraction of images that must be known
            to the file (with boxes, empty or failed). Defaults to 0.5.
        missing (str): Images the file does not know (when at least
            ``min_found`` are known): ``'error'`` (default) raises,
            ``'whole_image'`` gives them no proposals (the samplers fall
            back to the whole image) and logs their number.
        failed (str): Images listed under ``failed``: ``'skip'`` (default)
            leaves them out, ``'whole_image'`` keeps them with no
            proposals, ``'error'`` raises. Logged once.
        max_empty_fraction (float): Largest fraction of the dataset's
            images allowed to have no usable proposal; above it a
            ``ValueError``. ``1.0`` turns the check off (a warning is still
            logged). Defaults to 0.5.
        data_root (str): Root for a relative ``proposal_file``.
        backend_args (dict, optional): mmengine file backend arguments.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``serialize_data``, ``lazy_init``, ``indices``, ``test_mode``,
            ``max_refetch``).

    Attributes:
        num_missing (int): Images the file does not know.
        num_failed (int): Images listed as failed (skipped or not).
        num_empty (int): Images of the dataset with no usable proposal.
        empty_fraction (float): ``num_empty`` over the dataset's images.
        num_clipped (int): Boxes clipped to the image.
        num_dropped (int): Boxes dropped (empty or non-finite).
    """

    METAINFO: dict = dict()
    MISSING_MODES = ('error', 'whole_image')
    FAILED_MODES = ('skip', 'whole_image', 'error')

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 proposal_file: str,
                 pipeline: Optional[List[Union[dict, Any]]] = None,
                 min_found: float = 0.5,
                 missing: str = 'error',
                 failed: str = 'skip',
                 max_empty_fraction: float = 0.5,
                 data_root: str = '',
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        self._dataset_cfg = copy.deepcopy(dataset) if isinstance(
            dataset, dict) else dataset
        self._check_modes(missing, failed, max_empty_fraction)
        self.min_found = min_found
        self.missing = missing
        self.failed = failed
        self.max_empty_fraction = max_empty_fraction
        self.backend_args = backend_args
        self.num_missing = self.num_failed = self.num_empty = 0
        self.num_clipped = self.num_dropped = 0
        self.empty_fraction = 0.0
        self.boxes = np.zeros((0, 4), np.float32)
        self.offsets = np.zeros(1, np.int64)
        self._store: Optional[ProposalStore] = None
        self._rows: Optional[np.ndarray] = None
        self._kept: Optional[np.ndarray] = None
        super().__init__(
            ann_file=proposal_file,
            data_root=data_root,
            pipeline=pipeline or [],
            **kwargs)

    @property
    def proposal_file(self) -> str:
        """str: The proposal file (joined with ``data_root``)."""
        return self.ann_file

    def _check_modes(self, missing: str, failed: str,
                     max_empty_fraction: float) -> None:
        """Refuse unknown ``missing`` / ``failed`` modes and thresholds."""
        if missing not in self.MISSING_MODES:
            raise ValueError(f'ProposalDataset: missing must be one of '
                             f'{self.MISSING_MODES}, got {missing!r}')
        if failed not in self.FAILED_MODES:
            raise ValueError(f'ProposalDataset: failed must be one of '
                             f'{self.FAILED_MODES}, got {failed!r}')
        if not 0.0 <= max_empty_fraction <= 1.0:
            raise ValueError('ProposalDataset: max_empty_fraction must be in '
                             f'[0, 1] (1.0 turns the check off), got '
                             f'{max_empty_fraction!r}')

    # ------------------------------------------------------------ loading
    def _image_items(self) -> Tuple[List[dict], str, str]:
        """Items of the wrapped dataset, its image prefix and a name."""
        inner = self._dataset_cfg
        if isinstance(inner, dict):
            if inner.get('pipeline'):
                raise ValueError(
                    'ProposalDataset: put the pipeline on ProposalDataset, '
                    'not on the wrapped `dataset` (proposals are attached '
                    'after the wrapped dataset yields an item)')
            # our scope, whatever the caller's (an mmdet config naming
            # `mmalfm.ProposalDataset`); a `_scope_` in `dataset` still wins
            with DefaultScope.overwrite_default_scope('mmalfm'):
                inner = DATASETS.build(
                    dict(inner, pipeline=[], serialize_data=False,
                         lazy_init=False))
        if isinstance(inner, BaseDataset) and not inner.serialize_data:
            inner.full_init()
            items = inner.data_list  # built here: no need to copy
        else:
            items = [inner.get_data_info(i) for i in range(len(inner))]
        prefix = inner.data_prefix.get('img_path', '') if isinstance(
            getattr(inner, 'data_prefix', None), dict) else ''
        source = getattr(inner, 'ann_file', '') or prefix
        return items, prefix, source

    def load_data_list(self) -> List[dict]:
        """Join the wrapped dataset's items with the proposal file."""
        items, prefix, source = self._image_items()
        rels = self._relatives(items, prefix)
        store = None
        if is_store(self.proposal_file):
            store = ProposalStore(self.proposal_file)
            store.validate()
            joined = _join_store(store, rels)
            meta = store.meta
        else:
            record = read_proposal_file(self.proposal_file,
                                        self.backend_args)
            joined = _join(record, rels)
            box_format, meta = record['box_format'], record['meta']
            del record
        command = self._tool_command(source, prefix, meta)
        self._check_found(joined, rels, source, command, meta)
        self._check_failed(joined, rels, source, command)
        sizes = self._image_sizes(items)
        if store is None:
            boxes, stored = _flat_xyxy(joined.boxes, box_format)
            owner = np.repeat(np.arange(len(items)), stored)
            boxes, keep = self._clean(boxes, sizes[owner])
            lengths = np.bincount(owner[keep], minlength=len(items))
            self.boxes = np.ascontiguousarray(boxes[keep])
            self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(
                np.int64)
        else:
            stored, lengths = self._count_store(store, joined.rows, sizes)
            store.close()  # unmapped; items are read with pread
            self._store, self._rows, self._kept = store, joined.rows, lengths
        slots = self._kept_slots(len(items), joined)
        self._log_counts(joined, rels, source, command)
        self._check_empty(slots, stored, lengths, joined, rels, command)
        data_list = []
        for slot in slots:
            it = {k: v for k, v in items[slot].items() if k != 'sample_idx'}
            it['proposal_slot'] = slot
            data_list.append(it)
        return data_list

    @staticmethod
    def _relatives(items: List[dict], prefix: str) -> List[str]:
        """Every item's image path relative to the image prefix (``/``
        separators; the path itself when it is not under the prefix)."""
        head = _norm_key(prefix or '').rstrip('/')
        head = head + '/' if head else ''
        cut = len(head)
        rels = []
        for it in items:
            path = _norm_key(it['img_path'])
            rels.append(path[cut:] if head and path.startswith(head) else
                        path)
        return rels

    def _tool_command(self, source: str, prefix: str, meta: dict) -> str:
        """The proposal tool's command line that remakes this file with
        the parameters it records (re-running it resumes)."""
        folder = prefix or 'IMG_DIR'
        if source.endswith('.json'):
            return tool_command(source, self.proposal_file, folder, meta)
        # a folder, or a list file the tool cannot read: scan the folder
        return tool_command(folder, self.proposal_file, None, meta)

    def _kept_slots(self, num_items: int, joined: _Joined) -> List[int]:
        """Indices of the wrapped items in the dataset (failed images
        are left out with ``failed='skip'``)."""
        if self.failed != 'skip':
            return list(range(num_items))
        return [i for i in range(num_items) if i not in joined.failed]

    def _check_found(self, joined: _Joined, rels: List[str], source: str,
                     command: str, meta: Optional[dict] = None) -> None:
        """Refuse a file for another image set, or one missing images
        (``missing='error'``); count missing images."""
        total = len(rels)
        num_known = total - len(joined.missing)
        if total and num_known < self.min_found * total:
            raise ValueError(
                f'Proposal file {self.proposal_file!r} knows only '
                f'{num_known} of the {total} images of {source!r} '
                f'(< {self.min_found:.0%}, with boxes, empty or failed): it '
                'was made for another image set, '
                'or the keys are not paths relative to the image prefix '
                '(nor basenames). Regenerate it for this image list: '
                f'`{command}`.')
        self.num_missing = len(joined.missing)
        if self.num_missing and self.missing == 'error':
            names = name_sample([rels[i] for i in joined.missing])
            raise ValueError(
                f'Proposal file {self.proposal_file!r} has no entry for '
                f'{self.num_missing} of the {total} images of {source!r}: '
                f'{names}. They are not listed as "failed" or "empty" '
                'either: the proposal tool never processed them. Fill them '
                f'in by re-running `{command}`'
                f'{fill_in_note(self.proposal_file, meta)}. Or set '
                "missing='whole_image' on ProposalDataset to train those "
                'images on the whole-image fallback box.')

    def _check_failed(self, joined: _Joined, rels: List[str], source: str,
                      command: str) -> None:
        """Count the failed images; raise with ``failed='error'``, or when
        ``failed='skip'`` would leave no image."""
        self.num_failed = len(joined.failed)
        if not self.num_failed:
            return
        total = len(rels)
        if self.failed == 'error' or (self.failed == 'skip'
                                      and self.num_failed == total):
            left = (' (failed=\'skip\' would leave no image)'
                    if self.failed == 'skip' else '')
            raise ValueError(
                f'Proposal file {self.proposal_file!r} lists '
                f'{self.num_failed} of the {total} images of {source!r} as '
                f'unreadable (under "failed"){left}: '
                f'{self._failed_names(joined, rels)}. Regenerating the '
                'proposals does not help while these images stay '
                'unreadable: re-encode or replace them (or remove them '
                f'from the image list), then re-run `{command}` (it retries '
                "failed images). Or set failed='skip' (leave them out) or "
                "failed='whole_image' (keep them with the whole-image box) "
                'on ProposalDataset.')

    @staticmethod
    def _failed_names(joined: _Joined, rels: List[str]) -> str:
        """Up to 5 failed images with the tool's reason."""
        indices = list(joined.failed)
        return name_sample([rels[i] for i in indices],
                           [joined.failed[i] for i in indices])

    @staticmethod
    def _image_sizes(items: List[dict]) -> np.ndarray:
        """``[N, 2]`` float32 ``(W, H)``; inf where the item does not say."""
        return np.array([(it.get('width') or np.inf, it.get('height')
                          or np.inf) for it in items],
                        dtype=np.float32).reshape(-1, 2)

    def _clean(self, boxes: np.ndarray,
               sizes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Clip to ``[0, W] x [0, H]``, find the boxes to keep, count.

        Args:
            boxes (np.ndarray): ``[T, 4]`` xyxy boxes.
            sizes (np.ndarray): ``[T, 2]`` ``(W, H)`` of each box's image.

        Returns:
            tuple[np.ndarray, np.ndarray]: clipped boxes ``[T, 4]`` and the
            ``[T]`` keep mask (positive size, finite).
        """
        clipped, keep, changed = clean_boxes(boxes, sizes)
        self.num_clipped += int((changed & keep).sum())
        self.num_dropped += int((~keep).sum())
        return clipped, keep

    def _count_store(self, store: ProposalStore, rows: np.ndarray,
                     sizes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Stored and kept boxes per item of a store; counts the clipped
        and dropped ones.

        Items without a known size use the store's per-image statistics
        (clipping at 0 only); the others' boxes are read in chunks of
        about ``_SCAN_CHUNK`` boxes, in store order, and cleaned like the
        JSON path does.

        Args:
            store (ProposalStore): The store.
            rows (np.ndarray): ``[N]`` store row per item (``-1``: none).
            sizes (np.ndarray): ``[N, 2]`` float32 ``(W, H)``, inf where
                unknown.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``[N]`` int64 stored and kept
            boxes per item.
        """
        stored = np.zeros(len(rows), np.int64)
        lengths = np.zeros(len(rows), np.int64)
        has = np.flatnonzero(rows >= 0)
        offsets = store.array('offsets')
        starts = np.asarray(offsets[rows[has]], np.int64)
        stored[has] = np.asarray(offsets[rows[has] + 1], np.int64) - starts
        start_of = np.zeros(len(rows), np.int64)
        start_of[has] = starts
        unsized = ~np.isfinite(sizes[has]).any(1)
        plain = has[unsized]
        lengths[plain] = store.array('stats_kept')[rows[plain]]
        self.num_clipped += int(
            np.asarray(store.array('stats_clipped')[rows[plain]],
                       np.int64).sum())
        self.num_dropped += int((stored[plain] - lengths[plain]).sum())
        sized = has[~unsized]
        order = sized[np.argsort(rows[sized], kind='stable')]
        bounds = np.concatenate([[0], np.cumsum(stored[order])])
        boxes = store.array('boxes')
        begin = 0
        while begin < len(order):
            end = int(np.searchsorted(bounds, bounds[begin] + _SCAN_CHUNK,
                                      side='right')) - 1
            end = min(max(end, begin + 1), len(order))
            batch = order[begin:end]
            counts = stored[batch]
            flat = np.asarray(boxes[_ragged_index(start_of[batch], counts)])
            owner = np.repeat(np.arange(len(batch)), counts)
            _, keep = self._clean(to_xyxy(flat, store.box_format),
                                  sizes[batch][owner])
            lengths[batch] = np.bincount(owner[keep], minlength=len(batch))
            begin = end
        return stored, lengths

    def _log_counts(self, joined: _Joined, rels: List[str], source: str,
                    command: str) -> None:
        """One warning each for missing images, failed images and cleaned
        boxes."""
        if self.num_missing:
            _warn(f'ProposalDataset: {self.num_missing} images have no entry'
                  f' in {self.proposal_file!r}; they get no proposals (the '
                  "region sampler falls back; missing='whole_image'). "
                  f'Fill them in by re-running `{command}`.')
        if self.num_failed:
            what = ('left out of the dataset (failed=\'skip\')'
                    if self.failed == 'skip' else
                    'kept with no proposals (failed=\'whole_image\')')
            _warn(f'ProposalDataset: {self.num_failed} of the {len(rels)} '
                  f'images of {source!r} are listed as unreadable (under '
                  f'"failed") in {self.proposal_file!r} and are {what}: '
                  f'{self._failed_names(joined, rels)}. To train on them, '
                  're-encode or replace them and re-run '
                  f'`{command}` (it retries failed images).')
        if self.num_clipped or self.num_dropped:
            _warn(f'ProposalDataset: in {self.proposal_file!r}, '
                  f'{self.num_clipped} boxes were clipped to their image and '
                  f'{self.num_dropped} with zero/negative size or NaN were '
                  'dropped.')

    def _no_proposal_kinds(self, slots: List[int], stored: np.ndarray,
                           lengths: np.ndarray,
                           joined: _Joined) -> Dict[str, List[int]]:
        """The dataset's images with no usable proposal, by kind.

        Args:
            slots (list[int]): The wrapped items in the dataset.
            stored (np.ndarray): ``[N]`` boxes per item in the file.
            lengths (np.ndarray): ``[N]`` boxes per item after dropping.
            joined (_Joined): The join.

        Returns:
            dict[str, list[int]]: ``empty`` (listed empty), ``missing``,
            ``failed`` and ``dropped`` (all boxes dropped) item indices.
        """
        missing = set(joined.missing)
        kinds: Dict[str, List[int]] = dict(
            empty=[], missing=[], failed=[], dropped=[])
        for i in slots:
            if lengths[i]:
                continue
            kind = ('missing' if i in missing else 'failed' if i in
                    joined.failed else 'dropped' if stored[i] else 'empty')
            kinds[kind].append(i)
        return kinds

    def _check_empty(self, slots: List[int], stored: np.ndarray,
                     lengths: np.ndarray, joined: _Joined, rels: List[str],
                     command: str) -> None:
        """Warn about images with no usable proposal; raise when their
        fraction is above ``max_empty_fraction``."""
        kinds = self._no_proposal_kinds(slots, stored, lengths, joined)
        indices = sorted(i for v in kinds.values() for i in v)
        self.num_empty = len(indices)
        self.empty_fraction = self.num_empty / max(len(slots), 1)
        if not self.num_empty:
            return
        counts = ', '.join(f'{len(v)} {_KIND_TEXT[k]}'
                           for k, v in kinds.items() if v)
        what = (f'{self.num_empty} of the {len(slots)} images '
                f'({self.empty_fraction:.1%}) have no usable proposal '
                f'({counts}): {name_sample([rels[i] for i in indices])}')
        if self.empty_fraction > self.max_empty_fraction:
            fixes = ' '.join(
                _KIND_FIX[k].format(n=len(v), command=command)
                for k, v in kinds.items() if v)
            raise ValueError(
                f'Proposal file {self.proposal_file!r}: {what}; that is more '
                f'than max_empty_fraction={self.max_empty_fraction} allows: '
                'SoCo/ALFM would train mostly on the whole-image fallback '
                f'box. {fixes} Or set max_empty_fraction=1.0 on '
                'ProposalDataset to accept it.')
        _warn(f'ProposalDataset: in {self.proposal_file!r}, {what}; they '
              'train on the whole-image fallback box only.')

    # ------------------------------------------------------------ access
    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th item with its ``proposals`` ``[P, 4]`` float32."""
        info = super().get_data_info(idx)
        slot = info.pop('proposal_slot')
        if self._rows is None:
            start, end = self.offsets[slot], self.offsets[slot + 1]
            info['proposals'] = self.boxes[start:end].copy()
        else:
            info['proposals'] = self._store_boxes(int(self._rows[slot]), info)
        return info

    def _store_boxes(self, row: int, info: dict) -> np.ndarray:
        """An item's clean boxes read from the store (as the JSON path
        computes them at start-up)."""
        if row < 0:
            return np.zeros((0, 4), np.float32)
        return image_boxes(self._store.image_boxes(row),
                           self._store.box_format,
                           info.get('width') or np.inf,
                           info.get('height') or np.inf)

    def num_proposals(self, idx: int) -> int:
        """Number of proposals of the ``idx``-th item (no copy)."""
        slot = super().get_data_info(idx)['proposal_slot']
        if self._kept is not None:
            return int(self._kept[slot])
        return int(self.offsets[slot + 1] - self.offsets[slot])


#: How each kind of image without a usable proposal is counted ...
_KIND_TEXT = dict(
    empty='listed as empty',
    missing='without an entry',
    failed='unreadable (listed as failed)',
    dropped='with all boxes dropped')

#: ... and what fixes it.
_KIND_FIX = dict(
    empty='{n} are listed as empty: the tool\'s filter kept no box for '
    'them (images smaller than 32 px, or without structure); check those '
    'images, or regenerate into a new file with another `--filter` (e.g. '
    '`--filter none` keeps every region).',
    missing='{n} have no entry: fill them in by re-running `{command}` (it '
    'resumes).',
    failed='{n} are unreadable: re-encode or replace them and re-run '
    '`{command}` (it retries failed images), or use the default '
    "failed='skip'.",
    dropped='{n} lost all their boxes to the checks (zero or negative size '
    'after clipping to the image, or not finite): the boxes do not fit '
    'these images (a file made for other image sizes, or the wrong '
    'box_format): regenerate it for these images into a new output file '
    '(`{command}` with another OUT.json: this file\'s shard folder holds '
    'the same boxes).')
