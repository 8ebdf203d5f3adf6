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
from typing import Dict, IO, Iterable, Iterator, List, Mapping, Optional

import mmengine
import numpy as np

__all__ = [
    'FORMAT', 'VERSION', 'atomic_open', 'save_proposals',
    'read_proposal_file', 'load_proposals', 'xywh_to_xyxy'
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


def save_proposals(path: str,
                   images: Mapping[str, Iterable],
                   *,
                   empty: Optional[Iterable[str]] = None,
                   failed: Optional[Mapping[str, str]] = None,
                   meta: Optional[dict] = None) -> None:
    """Write a proposal file atomically (temporary file + ``os.replace``).

    Args:
        path (str): Output ``.json`` path.
        images (Mapping[str, array-like]): Relative image path -> ``[N, 4]``
            xywh boxes (``[]`` for none), in the order to store.
        empty (Iterable[str], optional): Images with no proposal. Defaults
            to the keys of ``images`` with no box.
        failed (Mapping[str, str], optional): Unreadable images -> error.
        meta (dict, optional): ``method``, ``params``, ``filter`` and any
            other provenance (JSON-serialisable).
    """
    boxes = {str(k): _box_list(k, v) for k, v in images.items()}
    if empty is None:
        empty = [k for k, v in boxes.items() if not v]
    obj = {
        'format': FORMAT,
        'version': VERSION,
        'box_format': 'xywh',
        'images': boxes,
        'empty': list(empty),
        'failed': dict(failed or {}),
        'meta': dict(meta or {}),
    }
    with atomic_open(path) as f:
        json.dump(obj, f, separators=(',', ':'))


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
    """One image's stored boxes as a float64 ``[N, 4]`` array.

    Args:
        path (str): The proposal file (for the message).
        key (str): The image key (for the message).
        boxes: The JSON value: a list of boxes, each a list of 4 numbers;
            ``[]`` for none.
        box_format (str): ``'xywh'`` or ``'xyxy'`` (for the message).

    Returns:
        np.ndarray: ``[N, 4]`` float64 boxes as stored (``[0, 4]`` for
        ``[]``).

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
        return np.zeros((0, 4), np.float64)
    if (arr is None or arr.ndim != 2 or arr.shape[1:] != (4, )
            or arr.dtype.kind not in 'iuf'):
        raise ValueError(
            f'{path!r}: expected a list of {_BOX_LAYOUT[box_format]} boxes '
            f'of 4 numbers for image {key!r}; {_first_bad_box(boxes)}')
    return arr.astype(np.float64)


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
        ``box_format`` (``'xywh'``, or ``'xyxy'`` for files written so by
        other tools), ``empty`` (list), ``failed`` (dict key -> reason),
        ``meta`` (dict) and ``legacy`` (bool, True for SoCo's
        ``{basename: boxes}`` file, whose keys are image basenames without
        extension).
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
    return dict(
        images={k: _check_boxes(path, k, v, box_format)
                for k, v in images.items()},
        box_format=box_format,
        empty=list(_check_keys_list(path, 'empty', obj.get('empty', []))),
        failed=_check_failed(path, obj.get('failed', {})),
        meta=dict(_check_meta(path, obj.get('meta', {}))),
        legacy=False)


def _read_legacy(path: str, obj: dict) -> dict:
    """The record of SoCo's released ``{basename: [[x, y, w, h], ...]}``."""
    for key, value in obj.items():
        if not isinstance(value, list):
            raise ValueError(
                f'{path!r} is neither an {FORMAT} file (no "format" key) nor '
                f'a SoCo proposal file ({{basename: [[x, y, w, h], ...]}}): '
                f'the value of {key!r} is a {type(value).__name__}')
    images = {k: _check_boxes(path, k, v) for k, v in obj.items()}
    return dict(
        images=images,
        box_format='xywh',
        empty=[k for k, v in images.items() if len(v) == 0],
        failed={},
        meta=dict(method='selective_search', source='soco-legacy'),
        legacy=True)


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
