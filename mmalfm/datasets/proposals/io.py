# Copyright (c) mmalfm contributors. All rights reserved.
"""Reading and writing proposal files.

The file is one JSON object::

    {"format": "mmalfm-proposals", "version": 1, "box_format": "xywh",
     "images": {"<path relative to the image prefix>": [[x, y, w, h], ...]},
     "empty": ["<rel path>", ...],
     "failed": {"<rel path>": "<error>"},
     "meta": {"method": "selective_search", "params": {...},
              "filter": "ratio3size0308post", ...}}

* ``images`` holds every image that was processed, in the order of the
  image list; an image whose proposals were all filtered out maps to ``[]``
  and is also listed in ``empty`` (SoCo's dataset then uses the whole image
  as the only proposal).
* Boxes are integers ``(x, y, w, h)`` with ``w = max_x - min_x`` over the
  region's inclusive pixel indices (SoCo's convention, no ``+ 1``).
* ``failed`` lists images that could not be read, with the reason; they
  are not in ``images``. ``ProposalDataset`` treats ``failed`` and ``empty``
  images as known to the file, never as missing (see its docstring).

The same content can be held by a binary proposal store (a folder, see
:mod:`.store`); :mod:`.files` reads and writes either by path.
:class:`JSONProposalWriter` writes a file image by image (what
:func:`save_proposals` uses), so that merging parts needs the memory of one
part only.

:func:`load_proposals` also reads SoCo's released files, a bare
``{"<image basename without extension>": [[x, y, w, h], ...]}``; those keys
are basenames, not relative paths.

Loaded boxes are ``(x1, y1, x2, y2) = (x, y, x + w, y + h)`` float32, i.e.
the stored numbers read as continuous corners (the package convention, see
``docs/advanced_guides/geometry.md``). SoCo's inclusive corners
``(x, y, x + w - 1, y + h - 1)`` are ``x2 - 1, y2 - 1`` of those; apply that
where SoCo's arithmetic is reproduced (:mod:`mmalfm.structures`).
"""
import contextlib
import json
import os
import os.path as osp
import uuid
from typing import (IO, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Tuple)

import mmengine
import numpy as np

from .writer import AtomicWriter

__all__ = [
    'FORMAT', 'VERSION', 'atomic_open', 'save_proposals',
    'JSONProposalWriter', 'read_proposal_file', 'load_proposals',
    'xywh_to_xyxy'
]

FORMAT = 'mmalfm-proposals'
VERSION = 1


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'w') -> Iterator[IO]:
    """Open a temporary file next to ``path``; move it onto ``path`` only
    if the block finishes without an exception.

    Readers see either the old file or the complete new one, never a
    partial file. On an exception the temporary file is removed and the
    exception propagates.

    Args:
        path (str): Final file path; its folder is created if needed.
        mode (str): ``'w'`` (text) or ``'wb'``. Defaults to ``'w'``.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.'
                   f'{uuid.uuid4().hex[:8]}.tmp')
    try:
        with open(tmp, mode.replace('w', 'x')) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _box_list(key: str, boxes) -> list:
    arr = np.asarray(boxes)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'proposals of {key!r}: expected [N, 4] xywh boxes,'
                         f' got shape {arr.shape}')
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64).tolist()
    return arr.astype(np.float64).tolist()


def _dumps(value) -> str:
    """Compact JSON text, as ``json.dump(..., separators=(',', ':'))``."""
    return json.dumps(value, separators=(',', ':'))


class JSONProposalWriter(AtomicWriter):
    """Write a proposal file image by image, atomically.

    The text is byte for byte what ``json.dump`` of the whole object with
    compact separators gives (the canonical form of a proposal file), but
    only ``empty`` and ``failed`` are kept in memory: the boxes go to the
    file as they come. Nothing appears at ``path`` until :meth:`close`; an
    exception inside a ``with`` block removes the temporary file.

    Args:
        path (str): Output ``.json`` path.
        box_format (str): ``'xywh'`` (default, our tools' selective-search
            boxes) or ``'xyxy'`` (detector boxes).

    Example:
        >>> with JSONProposalWriter('props.json') as writer:
        ...     writer.add('a.jpg', [[0, 0, 10, 10]])
        ...     writer.close(meta=dict(method='selective_search'))
    """

    def __init__(self, path: str, box_format: str = 'xywh') -> None:
        if box_format not in _BOX_LAYOUT:
            raise ValueError(f'box_format must be "xywh" or "xyxy", got '
                             f'{box_format!r}')
        self.path = path
        self.box_format = box_format
        self.num_images = 0
        self._no_boxes: List[str] = []
        self._ctx = atomic_open(path)
        self._file = self._ctx.__enter__()
        self._file.write(
            f'{{"format":{_dumps(FORMAT)},"version":{_dumps(VERSION)},'
            f'"box_format":{_dumps(box_format)},"images":{{')

    def add(self, key: str, boxes) -> None:
        """Append one image.

        Args:
            key (str): Image path relative to the image prefix.
            boxes (array-like): ``[N, 4]`` boxes in ``box_format`` (``[]``
                for none); integer arrays are written as integers.
        """
        values = _box_list(key, boxes)
        sep = ',' if self.num_images else ''
        self._file.write(f'{sep}{_dumps(str(key))}:{_dumps(values)}')
        self.num_images += 1
        if not values:
            self._no_boxes.append(str(key))

    def close(self,
              empty: Optional[Iterable[str]] = None,
              failed: Optional[Mapping[str, str]] = None,
              meta: Optional[dict] = None) -> None:
        """Write the lists and ``meta``; move the file into place.

        Args:
            empty (Iterable[str], optional): Images with no proposal.
                Defaults to the added images with no box, in order.
            failed (Mapping[str, str], optional): Unreadable images ->
                error.
            meta (dict, optional): Provenance (JSON-serialisable).
        """
        if self._ctx is None:
            return
        empty = self._no_boxes if empty is None else list(empty)
        # the small values through json.dump, the boxes above through dumps
        # (one string per image)
        for name, value in (('empty', list(empty)),
                            ('failed', dict(failed or {})),
                            ('meta', dict(meta or {}))):
            self._file.write(f'{"}" if name == "empty" else ""},"{name}":')
            json.dump(value, self._file, separators=(',', ':'))
        self._file.write('}')
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)

    def abort(self) -> None:
        """Remove the temporary file; ``path`` is left as it was."""
        if self._ctx is None:
            return
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(_Aborted, _Aborted(), None)


class _Aborted(Exception):
    """Thrown into :func:`atomic_open` to drop its temporary file."""


def save_proposals(path: str,
                   images: Mapping[str, Iterable],
                   *,
                   empty: Optional[Iterable[str]] = None,
                   failed: Optional[Mapping[str, str]] = None,
                   meta: Optional[dict] = None,
                   box_format: str = 'xywh') -> None:
    """Write a proposal file atomically (temporary file + ``os.replace``).

    Args:
        path (str): Output ``.json`` path.
        images (Mapping[str, array-like]): Relative image path -> ``[N, 4]``
            boxes (``[]`` for none), in the order to store; integer arrays
            are written as integers.
        empty (Iterable[str], optional): Images with no proposal. Defaults
            to the keys of ``images`` with no box.
        failed (Mapping[str, str], optional): Unreadable images -> error.
        meta (dict, optional): ``method``, ``params``, ``filter`` and any
            other provenance (JSON-serialisable).
        box_format (str): ``'xywh'`` (default) or ``'xyxy'``.
    """
    with JSONProposalWriter(path, box_format) as writer:
        for key, boxes in images.items():
            writer.add(key, boxes)
        writer.close(empty=empty, failed=failed, meta=meta)


_BOX_LAYOUT = {'xywh': '[x, y, w, h]', 'xyxy': '[x1, y1, x2, y2]'}


def _short(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _is_number(value) -> bool:
    """A JSON number (``bool`` is not one, although Python thinks so)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_bad_box(boxes) -> str:
    """What is wrong with a malformed box list, for the error message."""
    if not isinstance(boxes, list):
        return f'got {type(boxes).__name__} {_short(boxes)}'
    for i, box in enumerate(boxes):
        if not (isinstance(box, list) and len(box) == 4
                and all(_is_number(v) for v in box)):
            return f'box {i} is {_short(box)}'
    return 'a box is not 4 numbers'


def _check_boxes(path: str, key: str, boxes,
                 box_format: str = 'xywh') -> np.ndarray:
    """One image's stored boxes as a float64 ``[N, 4]`` array (see
    :func:`_checked_boxes`)."""
    return _checked_boxes(path, key, boxes, box_format)[0]


def _checked_boxes(path: str, key: str, boxes,
                   box_format: str = 'xywh') -> Tuple[np.ndarray, bool]:
    """One image's stored boxes as a float64 ``[N, 4]`` array.

    Args:
        path (str): The proposal file (for the message).
        key (str): The image key (for the message).
        boxes: The JSON value: a list of boxes, each a list of 4 numbers;
            ``[]`` for none.
        box_format (str): ``'xywh'`` or ``'xyxy'`` (for the message).

    Returns:
        tuple[np.ndarray, bool]: ``[N, 4]`` float64 boxes as stored
        (``[0, 4]`` for ``[]``) and whether every value is a JSON integer
        (True for ``[]``).

    Raises:
        ValueError: Naming the file, the image and the first bad box when
            the value is not a list of 4-number lists (strings, ``null``,
            nested or ragged lists and all-boolean boxes are refused; a
            ``true`` among numbers reads as 1).
    """
    try:
        arr = np.asarray(boxes) if isinstance(boxes, list) else None
    except ValueError:  # ragged
        arr = None
    if arr is not None and arr.shape == (0, ):
        return np.zeros((0, 4), np.float64), True
    if (arr is None or arr.ndim != 2 or arr.shape[1:] != (4, )
            or arr.dtype.kind not in 'iuf'):
        raise ValueError(
            f'{path!r}: expected a list of {_BOX_LAYOUT[box_format]} boxes '
            f'of 4 numbers for image {key!r}; {_first_bad_box(boxes)}')
    return arr.astype(np.float64), arr.dtype.kind in 'iu'


def _load_json(path: str, backend_args: Optional[dict]):
    """``mmengine.load`` with the file named in every parsing error.

    Raises:
        json.JSONDecodeError: Not JSON, empty or truncated; the message
            names the file and keeps the line and column.
        ValueError: Not UTF-8 text (a binary file).
    """
    try:
        return mmengine.load(
            path, file_format='json', backend_args=backend_args)
    except json.JSONDecodeError as e:
        text = e.doc.rstrip()
        why = (' (the file is empty)' if not text else
               ' (it ends early: a truncated file)'
               if e.pos >= len(text) else '')
        raise json.JSONDecodeError(
            f'{path!r} is not valid JSON{why}: {e.msg}', e.doc,
            e.pos) from e
    except UnicodeDecodeError as e:
        raise ValueError(f'{path!r} is not a JSON text file (not UTF-8: '
                         f'{e})') from e


def _check_keys_list(path: str, name: str, value) -> List[str]:
    """The ``empty`` list: image keys (strings)."""
    if not isinstance(value, list) or not all(
            isinstance(k, str) for k in value):
        raise ValueError(f'{path!r}: "{name}" must be a list of image paths,'
                         f' got {_short(value)}')
    return value


def _check_failed(path: str, value) -> Dict[str, str]:
    """The ``failed`` mapping: image key -> reason (made a string)."""
    if not isinstance(value, dict):
        raise ValueError(f'{path!r}: "failed" must map image paths to the '
                         f'reason they could not be read, got '
                         f'{_short(value)}')
    return {k: str(v) for k, v in value.items()}


def _check_meta(path: str, value) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f'{path!r}: "meta" must be a JSON object, got '
                         f'{_short(value)}')
    return value


def read_proposal_file(path: str,
                       backend_args: Optional[dict] = None) -> dict:
    """Read a proposal file (ours or SoCo's legacy one) as a dict.

    Every malformed file raises an error naming ``path`` and what is wrong:
    invalid JSON (:class:`json.JSONDecodeError` with line and column),
    wrong structure or a box that is not 4 numbers (:class:`ValueError`).

    Args:
        path (str): The ``.json`` file (local or any MMEngine file backend).
        backend_args (dict, optional): MMEngine file backend arguments.

    Returns:
        dict: ``images`` (key -> ``[N, 4]`` float64 array as stored),
        ``box_format`` (``'xywh'``, or ``'xyxy'`` for detector boxes and
        files written so by other tools), ``empty`` (list), ``failed``
        (dict key -> reason), ``meta`` (dict), ``legacy`` (bool, True for
        SoCo's ``{basename: boxes}`` file, whose keys are image basenames
        without extension) and ``integer`` (bool, every box value is a
        JSON integer: the file is written back with integers).
    """
    obj = _load_json(path, backend_args)
    if not isinstance(obj, dict):
        raise ValueError(f'{path!r} is not a proposal file: expected a JSON '
                         f'object, got {type(obj).__name__}')
    if isinstance(obj.get('format'), str):
        return _read_ours(path, obj)
    return _read_legacy(path, obj)


def _read_ours(path: str, obj: dict) -> dict:
    """The record of an ``mmalfm-proposals`` file (see the module doc)."""
    if obj['format'] != FORMAT:
        raise ValueError(f'{path!r}: unknown format {obj["format"]!r} '
                         f'(expected {FORMAT!r})')
    if obj.get('version') != VERSION:
        raise ValueError(f'{path!r}: unsupported {FORMAT} version '
                         f'{obj.get("version")!r} (this code reads '
                         f'version {VERSION})')
    box_format = obj.get('box_format', 'xywh')
    if box_format not in _BOX_LAYOUT:
        raise ValueError(f'{path!r}: unsupported box_format '
                         f'{box_format!r} (expected "xywh" or "xyxy")')
    images = obj.get('images')
    if not isinstance(images, dict):
        raise ValueError(f'{path!r}: "images" must map image paths to '
                         'box lists')
    boxes, integer = _checked_images(path, images, box_format)
    return dict(
        images=boxes,
        box_format=box_format,
        empty=list(_check_keys_list(path, 'empty', obj.get('empty', []))),
        failed=_check_failed(path, obj.get('failed', {})),
        meta=dict(_check_meta(path, obj.get('meta', {}))),
        legacy=False,
        integer=integer)


def _checked_images(path: str, images: dict,
                    box_format: str) -> Tuple[Dict[str, np.ndarray], bool]:
    """Every image's checked boxes, and whether all values are JSON
    integers."""
    boxes, integer = {}, True
    for key, value in images.items():
        boxes[key], is_int = _checked_boxes(path, key, value, box_format)
        integer = integer and is_int
    return boxes, integer


def _read_legacy(path: str, obj: dict) -> dict:
    """The record of SoCo's released ``{basename: [[x, y, w, h], ...]}``."""
    for key, value in obj.items():
        if not isinstance(value, list):
            raise ValueError(
                f'{path!r} is neither an {FORMAT} file (no "format" key) nor '
                f'a SoCo proposal file ({{basename: [[x, y, w, h], ...]}}): '
                f'the value of {key!r} is a {type(value).__name__}')
    images, integer = _checked_images(path, obj, 'xywh')
    return dict(
        images=images,
        box_format='xywh',
        empty=[k for k, v in images.items() if len(v) == 0],
        failed={},
        meta=dict(method='selective_search', source='soco-legacy'),
        legacy=True,
        integer=integer)


def xywh_to_xyxy(boxes) -> np.ndarray:
    """``(x, y, w, h)`` -> ``(x, y, x + w, y + h)`` float32 ``[N, 4]``."""
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = arr.copy()
    out[:, 2:] += arr[:, :2]
    return out.astype(np.float32)


def load_proposals(path: str) -> Dict[str, np.ndarray]:
    """Load proposals as ``{key: [N, 4] float32 (x1, y1, x2, y2)}``.

    Keys are image paths relative to the image prefix (our format) or image
    basenames without extension (SoCo's legacy format). Empty images map to
    a ``[0, 4]`` array; failed images are absent. Boxes are
    ``(x, y, x + w, y + h)`` (see the module doc for SoCo's inclusive
    corners).

    Args:
        path (str): A proposal ``.json`` file.

    Returns:
        dict[str, np.ndarray]: Proposals per image.
    """
    record = read_proposal_file(path)
    if record['box_format'] == 'xyxy':
        return {
            k: v.reshape(-1, 4).astype(np.float32)
            for k, v in record['images'].items()
        }
    return {k: xywh_to_xyxy(v) for k, v in record['images'].items()}
