# Copyright (c) mmalfm contributors. All rights reserved.
"""Images joined with offline region proposals (SoCo, ALFM)."""
import copy
import logging
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple, Union

import mmengine
import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmalfm.registry import DATASETS
from .proposals.io import read_proposal_file
from .seeding import SeededItemsMixin

__all__ = ['ProposalDataset']


def _norm_key(path: str) -> str:
    """Normalised relative path used to join images and proposals."""
    path = path.replace('\\', '/')
    while path.startswith('./'):
        path = path[2:]
    return path.lstrip('/')


def _stem(path: str) -> str:
    """SoCo's key: the basename up to its first dot
    (``os.path.basename(path).split('.')[0]``)."""
    return osp.basename(path).split('.')[0]


def _unique_index(keys: List[str], name_of) -> Dict[str, str]:
    """``{name_of(key): key}`` without names that occur more than once."""
    index: Dict[str, str] = {}
    clashes = set()
    for key in keys:
        name = name_of(key)
        if name in index:
            clashes.add(name)
        index[name] = key
    return {k: v for k, v in index.items() if k not in clashes}


class _Joiner:
    """Finds an image's proposals by relative path, then by basename, then
    by SoCo's basename stem (basename up to the first dot). A basename or
    stem shared by two keys of the file never matches (ImageNet and COCO
    have none)."""

    def __init__(self, images: Dict[str, Any]) -> None:
        self.images = {_norm_key(k): v for k, v in images.items()}
        keys = list(self.images)
        self.by_name = _unique_index(keys, osp.basename)
        self.by_stem = _unique_index(keys, _stem)

    def get(self, rel_path: str) -> Optional[Any]:
        """The image's boxes, or None when the file has no entry for it."""
        key = _norm_key(rel_path)
        if key not in self.images:
            key = self.by_name.get(osp.basename(key)) or self.by_stem.get(
                _stem(key))
        return self.images.get(key) if key is not None else None


def _flat_xyxy(per_image: List[Optional[np.ndarray]],
               box_format: str) -> Tuple[np.ndarray, np.ndarray]:
    """All images' boxes as one ``[T, 4]`` float32 xyxy array.

    Args:
        per_image (list): Per image, an ``[n, 4]`` array as stored in the
            file, or None when the file has no entry for the image.
        box_format (str): ``'xywh'`` or ``'xyxy'``.

    Returns:
        tuple[np.ndarray, np.ndarray]: boxes ``[T, 4]`` and the ``[N]`` int64
        number of boxes of each image.
    """
    arrays = [np.zeros((0, 4)) if b is None else b for b in per_image]
    lengths = np.array([len(b) for b in arrays], dtype=np.int64)
    arr = np.concatenate(arrays, axis=0).astype(np.float32) if arrays \
        else np.zeros((0, 4), np.float32)
    if box_format == 'xywh':  # continuous corners: (x, y, x + w, y + h)
        arr = np.concatenate([arr[:, :2], arr[:, :2] + arr[:, 2:]], axis=1)
    return arr, lengths


@DATASETS.register_module()
class ProposalDataset(SeededItemsMixin, BaseDataset):
    """An image dataset joined with offline region proposals.

    Wraps an image dataset (``UnlabeledImageDataset``, built from
    ``dataset`` without a pipeline) and adds to every item
    ``proposals``: ``[P, 4]`` float32 ``(x1, y1, x2, y2)`` boxes in source
    pixels, continuous corners (``docs/advanced_guides/geometry.md``). The
    pipeline belongs to this dataset.

    **Proposal file** (JSON, written by the selective-search tool)::

        {"format": "mmalfm-proposals", "version": 1,
         "box_format": "xywh",            # or "xyxy"
         "images": {"<image path relative to the image prefix>":
                        [[x, y, w, h], ...], ...},
         "meta": {...}}                   # free-form provenance

    or SoCo's legacy file ``{"n01440764_10026": [[x, y, w, h], ...], ...}``
    (xywh, **no** ``+1``: the box is ``(x, y, x + w, y + h)``). Images are
    joined by their path relative to the image prefix, falling back to the
    basename, then to SoCo's key, the basename up to its first dot
    (``basename(path).split('.')[0]``, what SoCo's loader looks up); a
    basename or stem occurring twice in the file never matches.

    **Bad input.** If fewer than ``min_found`` of the images have an entry
    the file belongs to another image set: ``ValueError`` naming both. Other
    images without an entry are an error by default (``missing='error'``:
    ``ValueError`` naming the first of them, up to 5, and the file -- a
    silently incomplete proposal file would train those images on the
    whole-image fallback box only). With ``missing='whole_image'`` they get
    an empty ``[0, 4]`` array (the samplers' whole-image fallback handles
    them) and their number is logged once. Images with an empty list are
    not missing: they always get an empty array. Boxes are clipped at 0,
    and to the image when the item knows its ``width``/``height`` (COCO
    lists); boxes with non-positive size or non-finite values are dropped;
    both are counted and logged once. (``MultiViewCrop`` clips again to
    the decoded image.)

    **Memory.** All boxes live in one flat float32 array ``[T, 4]`` with
    ``int64`` offsets ``[N + 1]``; the items only keep an index into them,
    so MMEngine's serialised ``data_list`` stays small and forked workers
    share the boxes.

    Args:
        dataset (dict | BaseDataset): The image dataset; its ``pipeline``
            must be empty.
        proposal_file (str): The JSON file (joined with ``data_root``).
        pipeline (list): The data pipeline.
        min_found (float): Smallest fraction of images that must have an
            entry. Defaults to 0.5.
        missing (str): What to do with images that have no entry (when at
            least ``min_found`` have one): ``'error'`` (default) raises,
            ``'whole_image'`` gives them no proposals (the samplers fall
            back to the whole image) and logs their number.
        data_root (str): Root for a relative ``proposal_file``.
        backend_args (dict, optional): mmengine file backend arguments.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``serialize_data``, ``lazy_init``, ``indices``, ``test_mode``,
            ``max_refetch``).

    Attributes:
        num_missing (int): Images without an entry in the file.
        num_clipped (int): Boxes clipped to the image.
        num_dropped (int): Boxes dropped (empty or non-finite).
    """

    METAINFO: dict = dict()
    MISSING_MODES = ('error', 'whole_image')

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 proposal_file: str,
                 pipeline: Optional[List[Union[dict, Any]]] = None,
                 min_found: float = 0.5,
                 missing: str = 'error',
                 data_root: str = '',
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        self._dataset_cfg = copy.deepcopy(dataset) if isinstance(
            dataset, dict) else dataset
        if missing not in self.MISSING_MODES:
            raise ValueError(f'ProposalDataset: missing must be one of '
                             f'{self.MISSING_MODES}, got {missing!r}')
        self.min_found = min_found
        self.missing = missing
        self.backend_args = backend_args
        self.num_missing = self.num_clipped = self.num_dropped = 0
        self.boxes = np.zeros((0, 4), np.float32)
        self.offsets = np.zeros(1, np.int64)
        super().__init__(
            ann_file=proposal_file,
            data_root=data_root,
            pipeline=pipeline or [],
            **kwargs)

    @property
    def proposal_file(self) -> str:
        """str: The proposal file (joined with ``data_root``)."""
        return self.ann_file

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
        record = read_proposal_file(self.proposal_file, self.backend_args)
        images, box_format = record['images'], record['box_format']
        joiner = _Joiner(images)
        found = [joiner.get(self._relative(it['img_path'], prefix))
                 for it in items]
        del images, joiner
        self._check_found(found, source, items, prefix)
        boxes, lengths = _flat_xyxy(found, box_format)
        del found
        owner = np.repeat(np.arange(len(items)), lengths)
        boxes, keep = self._clean(boxes, self._image_sizes(items)[owner])
        lengths = np.bincount(owner[keep], minlength=len(items))
        self.boxes = np.ascontiguousarray(boxes[keep])
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(
            np.int64)
        self._log_counts()
        data_list = []
        for slot, it in enumerate(items):
            it = {k: v for k, v in it.items() if k != 'sample_idx'}
            it['proposal_slot'] = slot
            data_list.append(it)
        return data_list

    @staticmethod
    def _relative(img_path: str, prefix: str) -> str:
        """Image path relative to the image prefix (``/`` separators)."""
        img_path, prefix = _norm_key(img_path), _norm_key(prefix or '')
        if prefix and img_path.startswith(prefix.rstrip('/') + '/'):
            return img_path[len(prefix.rstrip('/')) + 1:]
        return img_path

    def _check_found(self, found: List[Optional[Any]], source: str,
                     items: List[dict], prefix: str) -> None:
        """Refuse a file for another image set, or one missing images
        (``missing='error'``); count missing images."""
        num_found = sum(f is not None for f in found)
        if found and num_found < self.min_found * len(found):
            raise ValueError(
                f'Proposal file {self.proposal_file!r} has entries for only '
                f'{num_found} of the {len(found)} images of {source!r} '
                f'(< {self.min_found:.0%}): it was made for another image '
                'set, or the keys are not paths relative to the image prefix '
                '(nor basenames). Regenerate it for this image list.')
        self.num_missing = len(found) - num_found
        if self.num_missing and self.missing == 'error':
            first = [
                self._relative(it['img_path'], prefix)
                for it, f in zip(items, found) if f is None
            ][:5]
            more = (f' (and {self.num_missing - len(first)} more)'
                    if self.num_missing > len(first) else '')
            raise ValueError(
                f'Proposal file {self.proposal_file!r} has no entry for '
                f'{self.num_missing} of the {len(found)} images of '
                f'{source!r}: {", ".join(map(repr, first))}{more}. '
                'Regenerate the proposals for this image list (tools/data/'
                'selective_search.py), or set missing=\'whole_image\' on '
                'ProposalDataset to train those images on the whole-image '
                'fallback box.')

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
        clipped = np.clip(boxes, 0, np.tile(sizes, 2))
        finite = np.isfinite(boxes).all(1)
        keep = finite & (clipped[:, 2] > clipped[:, 0]) & \
            (clipped[:, 3] > clipped[:, 1])
        changed = (clipped != boxes).any(1)
        self.num_clipped += int((changed & keep).sum())
        self.num_dropped += int((~keep).sum())
        return clipped, keep

    def _log_counts(self) -> None:
        """One warning for missing images and cleaned boxes."""
        if self.num_missing:
            print_log(
                f'ProposalDataset: {self.num_missing} images have no entry in'
                f' {self.proposal_file!r}; they get no proposals (the region '
                'sampler falls back).',
                logger='current',
                level=logging.WARNING)
        if self.num_clipped or self.num_dropped:
            print_log(
                f'ProposalDataset: in {self.proposal_file!r}, '
                f'{self.num_clipped} boxes were clipped to their image and '
                f'{self.num_dropped} with zero/negative size or NaN were '
                'dropped.',
                logger='current',
                level=logging.WARNING)

    # ------------------------------------------------------------ access
    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th item with its ``proposals`` ``[P, 4]`` float32."""
        info = super().get_data_info(idx)
        slot = info.pop('proposal_slot')
        start, end = self.offsets[slot], self.offsets[slot + 1]
        info['proposals'] = self.boxes[start:end].copy()
        return info

    def num_proposals(self, idx: int) -> int:
        """Number of proposals of the ``idx``-th item (no copy)."""
        slot = super().get_data_info(idx)['proposal_slot']
        return int(self.offsets[slot + 1] - self.offsets[slot])
