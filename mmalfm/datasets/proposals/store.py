# Copyright (c) mmalfm contributors. All rights reserved.
"""The binary proposal store: a proposal file for ImageNet-scale data.

A store is a folder holding the content of a proposal file (see
:mod:`.io`) as flat arrays, read without parsing::

    NAME/                          (any name; a path not ending in .json)
      meta.json          {"format": "mmalfm-proposal-store", "version": 1,
                          "box_format": "xywh", "integer": true,
                          "num_images": N, "num_boxes": T, "legacy": false,
                          "meta": {...the proposal file's meta...}}
      lists.json         {"empty": [...], "failed": {key: reason}}
      boxes.npy          float32 [T, 4]  every image's boxes, as stored
      offsets.npy        int64 [N + 1]   image i: boxes[offsets[i]:
                                         offsets[i + 1]]
      keys.npy           S<L> [N]        image keys (UTF-8), in file order
      index_keys.npy     S<L> [U]        sorted normalised keys of images,
                                         failed and empty images
      index_rows.npy     int64 [U]       their image row (-1: failed/empty
                                         only)
      index_names.npy    S<L> [Un]       sorted basenames that one key has
      index_names_pos.npy int64 [Un]     -> position in index_keys
      index_stems.npy    S<L> [Us]       the same for SoCo's stems
      index_stems_pos.npy int64 [Us]
      stats_kept.npy     int32 [N]       boxes kept / clipped when the
      stats_clipped.npy  int32 [N]       image size is unknown (clip at 0)

``meta.json`` is written last and the folder is moved into place whole, so
a store is complete or absent. The index arrays let a reader join an image
list by relative path, basename or stem (:mod:`.keys`) with binary searches
over memory-mapped arrays: no dictionary of keys is built. The per-image
statistics let ``ProposalDataset`` count clipped and dropped boxes of a
folder data set without reading the boxes.

Reading one image's boxes (:meth:`ProposalStore.image_boxes`) is two
``os.pread`` calls on file descriptors opened lazily in each process: no
memory map stays open, so a data-loader worker's memory does not grow with
the images it reads. Whole-array access (:meth:`ProposalStore.array`) maps
the files read-only (``np.load(mmap_mode='r')``) until :meth:`close`.

JSON and the store are interchangeable (``tools/data/convert_proposals.py``):
JSON -> store -> JSON gives back the canonical JSON text (:mod:`.files`).
"""
import json
import os
import os.path as osp
import shutil
import uuid
from array import array
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .boxes import BOX_FORMATS, clean_boxes, to_xyxy
from .keys import norm_key, stem, unique_index
from .writer import AtomicWriter

__all__ = [
    'STORE_FORMAT', 'STORE_VERSION', 'ProposalStore', 'ProposalStoreWriter',
    'is_store'
]

STORE_FORMAT = 'mmalfm-proposal-store'
STORE_VERSION = 1
META_FILE = 'meta.json'
LISTS_FILE = 'lists.json'

#: ``name -> (dtype kind, ndim)`` of every array of a store.
ARRAYS = {
    'boxes': ('f', 2),
    'offsets': ('i', 1),
    'keys': ('S', 1),
    'index_keys': ('S', 1),
    'index_rows': ('i', 1),
    'index_names': ('S', 1),
    'index_names_pos': ('i', 1),
    'index_stems': ('S', 1),
    'index_stems_pos': ('i', 1),
    'stats_kept': ('i', 1),
    'stats_clipped': ('i', 1),
}

_FIX = ('rewrite it with `python tools/data/convert_proposals.py '
        'PROPOSALS.json {path}` (or re-run the tool that wrote it)')


def is_store(path: str) -> bool:
    """Whether ``path`` is a proposal store (an existing folder)."""
    return osp.isdir(path)


def _bytes_array(strings: Sequence[str]) -> np.ndarray:
    """``[len]`` fixed-width UTF-8 bytes (at least 1 byte wide)."""
    encoded = [s.encode('utf-8') for s in strings]
    width = max([len(b) for b in encoded] + [1])
    return np.array(encoded, dtype=f'S{width}').reshape(-1)


def _npy_header(path: str) -> Tuple[tuple, np.dtype, int]:
    """``(shape, dtype, data offset)`` of a ``.npy`` file."""
    with open(path, 'rb') as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if fortran:
            raise ValueError('Fortran-ordered array')
        return shape, dtype, f.tell()


def search_sorted(sorted_keys: np.ndarray,
                  queries: Sequence[bytes]) -> np.ndarray:
    """Positions of ``queries`` in a sorted fixed-width bytes array.

    Args:
        sorted_keys (np.ndarray): ``[U]`` sorted ``S<L>`` array (may be
            memory-mapped: only ``O(log U)`` entries per query are read).
        queries (Sequence[bytes]): The keys to find.

    Returns:
        np.ndarray: ``[len(queries)]`` int64 position, ``-1`` where absent.
    """
    out = np.full(len(queries), -1, np.int64)
    if not len(queries) or not len(sorted_keys):
        return out
    width = sorted_keys.dtype.itemsize
    fits = np.fromiter((len(q) <= width for q in queries), bool,
                       len(queries))
    wanted = np.array(list(queries), dtype=f'S{width}').reshape(-1)
    pos = np.minimum(np.searchsorted(sorted_keys, wanted),
                     len(sorted_keys) - 1)
    hit = fits & (sorted_keys[pos] == wanted)
    out[hit] = pos[hit]
    return out


class ProposalStore:
    """Read a proposal store (see the module doc).

    Opening reads ``meta.json`` and ``lists.json`` only; arrays are mapped
    on demand. Pickling (a data-loader worker started with ``spawn``)
    carries the path, not the arrays.

    Args:
        path (str): The store folder.

    Attributes:
        path (str): The folder.
        box_format (str): ``'xywh'`` or ``'xyxy'``.
        integer (bool): Every stored box value was an integer (written back
            to JSON as integers).
        num_images (int): ``N``, images with an entry (``images``).
        num_boxes (int): ``T``.
        legacy (bool): Converted from SoCo's legacy file.
        meta (dict): The proposal file's ``meta``.
        empty (list[str]): Images listed as empty.
        failed (dict[str, str]): Unreadable images -> reason.

    Raises:
        ValueError: Not a store, another format or version, or a malformed
            ``meta.json`` / ``lists.json``; the message names the store.
    """

    def __init__(self, path: str) -> None:
        self.path = path.rstrip('/') or path
        head = self._read_json(META_FILE)
        if not isinstance(head, dict) or head.get('format') != STORE_FORMAT:
            raise ValueError(
                f'{self.path!r} is not a proposal store: {META_FILE} has no '
                f'"format": "{STORE_FORMAT}"; {_FIX.format(path=self.path)}')
        if head.get('version') != STORE_VERSION:
            raise ValueError(
                f'{self.path!r}: unsupported {STORE_FORMAT} version '
                f'{head.get("version")!r} (this code reads version '
                f'{STORE_VERSION}); {_FIX.format(path=self.path)}')
        if head.get('box_format') not in BOX_FORMATS:
            raise ValueError(f'{self.path!r}: unsupported box_format '
                             f'{head.get("box_format")!r}')
        self.box_format: str = head['box_format']
        self.integer = bool(head.get('integer', False))
        self.num_images = int(head['num_images'])
        self.num_boxes = int(head['num_boxes'])
        self.legacy = bool(head.get('legacy', False))
        self.meta: dict = dict(head.get('meta') or {})
        lists = self._read_json(LISTS_FILE)
        empty = lists.get('empty') if isinstance(lists, dict) else None
        failed = lists.get('failed') if isinstance(lists, dict) else None
        if not isinstance(empty, list) or not isinstance(failed, dict):
            raise ValueError(
                f'{self.path!r}: {LISTS_FILE} must hold "empty" (a list) '
                f'and "failed" (an object); {_FIX.format(path=self.path)}')
        self.empty: List[str] = [str(k) for k in empty]
        self.failed: Dict[str, str] = {
            str(k): str(v)
            for k, v in failed.items()
        }
        self._maps: Dict[str, np.ndarray] = {}
        self._fds: Dict[str, Tuple[int, int]] = {}
        self._pid = os.getpid()

    def _file(self, name: str) -> str:
        return osp.join(self.path, name)

    def _read_json(self, name: str):
        path = self._file(name)
        if not osp.isfile(path):
            raise ValueError(
                f'{self.path!r} is not a complete proposal store: {name} is '
                f'missing; {_FIX.format(path=self.path)}')
        try:
            with open(path) as f:
                return json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f'{self.path!r}: {name} is not valid JSON '
                             f'({e}); {_FIX.format(path=self.path)}') from e

    # ------------------------------------------------------------ arrays
    def _check_pid(self) -> None:
        """Forget maps and descriptors inherited from another process."""
        if self._pid != os.getpid():
            self._maps, self._fds = {}, {}
            self._pid = os.getpid()

    def array(self, name: str) -> np.ndarray:
        """One array of the store, memory-mapped read-only.

        Args:
            name (str): A key of :data:`ARRAYS`.

        Returns:
            np.ndarray: The mapped array (kept until :meth:`close`).

        Raises:
            ValueError: The file is missing, truncated or of the wrong kind;
                the message names it.
        """
        self._check_pid()
        if name not in self._maps:
            path = self._file(f'{name}.npy')
            try:
                arr = np.load(path, mmap_mode='r')
            except (OSError, ValueError) as e:
                raise ValueError(
                    f'{self.path!r}: cannot read {name}.npy ({e}); '
                    f'{_FIX.format(path=self.path)}') from e
            kind, ndim = ARRAYS[name]
            if arr.dtype.kind not in (kind, 'u' if kind == 'i' else kind) \
                    or arr.ndim != ndim:
                raise ValueError(
                    f'{self.path!r}: {name}.npy is {arr.dtype} '
                    f'{arr.shape}, expected a {ndim}-d array of kind '
                    f'{kind!r}; {_FIX.format(path=self.path)}')
            self._maps[name] = arr
        return self._maps[name]

    def validate(self) -> None:
        """Check that the arrays agree with each other and with
        ``meta.json`` (reads ``offsets`` once).

        Raises:
            ValueError: Naming the store, the file and the fix.
        """
        n, t = self.num_images, self.num_boxes
        expect = dict(boxes=(t, 4), offsets=(n + 1, ), keys=(n, ),
                      stats_kept=(n, ), stats_clipped=(n, ))
        for name, shape in expect.items():
            if self.array(name).shape != shape:
                raise ValueError(
                    f'{self.path!r}: {name}.npy has shape '
                    f'{self.array(name).shape}, {META_FILE} says {shape} '
                    f'(a partly copied store?); {_FIX.format(path=self.path)}')
        if self.array('boxes').dtype != np.float32:
            raise ValueError(f'{self.path!r}: boxes.npy must be float32, got'
                             f' {self.array("boxes").dtype}')
        for keys, values in (('index_keys', 'index_rows'),
                             ('index_names', 'index_names_pos'),
                             ('index_stems', 'index_stems_pos')):
            if len(self.array(keys)) != len(self.array(values)):
                raise ValueError(
                    f'{self.path!r}: {keys}.npy and {values}.npy differ in '
                    f'length; {_FIX.format(path=self.path)}')
        offsets = self.array('offsets')
        if offsets[0] != 0 or offsets[-1] != t or (np.diff(offsets) <
                                                   0).any():
            raise ValueError(
                f'{self.path!r}: offsets.npy is not a non-decreasing list '
                f'from 0 to {t}; {_FIX.format(path=self.path)}')

    def close(self) -> None:
        """Unmap the arrays and close the descriptors (both reopen on
        demand)."""
        self._maps = {}
        fds, self._fds = self._fds, {}
        if self._pid == os.getpid():
            for fd, _ in fds.values():
                os.close(fd)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_maps={}, _fds={}, _pid=None)
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 -- interpreter shutdown
            pass

    # ------------------------------------------------------------ reading
    def _pread_fd(self, name: str) -> Tuple[int, int]:
        """``(fd, data offset)`` of ``name.npy``, opened in this process."""
        self._check_pid()
        if name not in self._fds:
            path = self._file(f'{name}.npy')
            _, _, offset = _npy_header(path)
            self._fds[name] = (os.open(path, os.O_RDONLY), offset)
        return self._fds[name]

    def image_boxes(self, row: int) -> np.ndarray:
        """The boxes of image ``row`` as stored, read with ``os.pread``.

        Args:
            row (int): Image index in ``[0, num_images)``.

        Returns:
            np.ndarray: ``[n, 4]`` float32 (a fresh array).
        """
        fd, base = self._pread_fd('offsets')
        start, end = np.frombuffer(os.pread(fd, 16, base + 8 * int(row)),
                                   dtype='<i8')
        if end <= start:
            return np.zeros((0, 4), np.float32)
        fd, base = self._pread_fd('boxes')
        size = int(end - start) * 16
        data = os.pread(fd, size, base + int(start) * 16)
        if len(data) != size:
            raise ValueError(f'{self.path!r}: boxes.npy is truncated; '
                             f'{_FIX.format(path=self.path)}')
        return np.frombuffer(data, dtype='<f4').reshape(-1, 4).copy()

    def lookup(self, keys: Sequence[str]) -> np.ndarray:
        """Find normalised image keys as the dataset joins them: by path,
        then basename, then SoCo's stem (a basename or stem shared by two
        keys of the store never matches).

        Args:
            keys (Sequence[str]): Normalised relative paths
                (:func:`~.keys.norm_key`).

        Returns:
            np.ndarray: ``[len(keys)]`` int64 position in ``index_keys``,
            ``-1`` for an image the store does not know.
        """
        pos = search_sorted(self.array('index_keys'),
                            [k.encode('utf-8') for k in keys])
        for table, name_of in (('index_names', osp.basename),
                               ('index_stems', stem)):
            miss = np.flatnonzero(pos < 0)
            if not miss.size:
                break
            found = search_sorted(
                self.array(table),
                [name_of(keys[i]).encode('utf-8') for i in miss])
            hit = found >= 0
            pos[miss[hit]] = self.array(f'{table}_pos')[found[hit]]
        return pos

    def index_key(self, pos: int) -> str:
        """The normalised key at position ``pos`` of ``index_keys``."""
        return bytes(self.array('index_keys')[pos]).decode('utf-8')

    def images(self, chunk: int = 1 << 20) -> Iterator[Tuple[str,
                                                             np.ndarray]]:
        """Every image's ``(key, [n, 4] float32 boxes)`` in file order,
        reading about ``chunk`` boxes at a time."""
        offsets = np.asarray(self.array('offsets'))
        keys, boxes = self.array('keys'), self.array('boxes')
        start = 0
        while start < self.num_images:
            end = int(np.searchsorted(offsets, offsets[start] + chunk,
                                      side='right'))
            end = min(max(end - 1, start + 1), self.num_images)
            block = np.array(boxes[offsets[start]:offsets[end]])
            base = offsets[start]
            for i in range(start, end):
                yield (bytes(keys[i]).decode('utf-8'),
                       block[offsets[i] - base:offsets[i + 1] - base])
            start = end

    def to_record(self) -> dict:
        """The content as :func:`~.io.read_proposal_file` returns it
        (``images`` as float64 arrays; loads everything)."""
        return dict(
            images={k: b.astype(np.float64)
                    for k, b in self.images()},
            box_format=self.box_format,
            empty=list(self.empty),
            failed=dict(self.failed),
            meta=dict(self.meta),
            legacy=self.legacy,
            integer=self.integer)


class ProposalStoreWriter(AtomicWriter):
    """Write a proposal store image by image (boxes streamed to disk).

    Keys and per-image counts are kept in memory (about 100 bytes per
    image); the folder appears at ``path`` only on :meth:`close` (an
    exception inside a ``with`` block removes the temporary folder).

    Args:
        path (str): The store folder to write; an existing store there is
            replaced.
        box_format (str): ``'xywh'`` or ``'xyxy'``.

    Example:
        >>> with ProposalStoreWriter('props.store') as writer:
        ...     writer.add('a.jpg', np.array([[0, 0, 10, 10]]))
        ...     writer.close(meta=dict(method='selective_search'))
    """

    def __init__(self, path: str, box_format: str = 'xywh') -> None:
        if box_format not in BOX_FORMATS:
            raise ValueError(f'box_format must be "xywh" or "xyxy", got '
                             f'{box_format!r}')
        self.path = path.rstrip('/') or path
        if osp.exists(self.path) and not osp.isdir(self.path):
            raise ValueError(f'{self.path!r} exists and is not a folder: a '
                             'proposal store is a folder (name a .json file '
                             'for the JSON format)')
        self.box_format = box_format
        parent = osp.dirname(osp.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        self._tmp = osp.join(
            parent, f'.{osp.basename(self.path)}.{os.getpid()}.'
            f'{uuid.uuid4().hex[:8]}.tmp')
        os.makedirs(self._tmp)
        self._boxes = open(osp.join(self._tmp, 'boxes.npy'), 'wb')
        self._header = self._npy_header(0)
        self._boxes.write(self._header)
        self._keys: List[str] = []
        self._lengths = array('q')
        self._kept = array('i')
        self._clipped = array('i')
        self._float = False
        self.num_boxes = 0
        self._open = True

    @staticmethod
    def _npy_header(num_boxes: int) -> bytes:
        """The ``.npy`` header of a float32 ``[num_boxes, 4]`` array (its
        length does not depend on ``num_boxes``: numpy pads the shape)."""
        import io
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, dict(descr='<f4', fortran_order=False,
                      shape=(num_boxes, 4)))
        return buf.getvalue()

    @property
    def num_images(self) -> int:
        return len(self._keys)

    def add(self, key: str, boxes) -> None:
        """Append one image.

        Args:
            key (str): Image path relative to the image prefix.
            boxes (array-like): ``[n, 4]`` boxes in ``box_format`` (``[]``
                for none); stored as float32. A float array makes the store
                non-integer (written back to JSON with floats).
        """
        arr = np.asarray(boxes)
        if arr.size == 0:
            arr = np.zeros((0, 4), np.float32)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f'proposals of {key!r}: expected [N, 4] boxes, '
                             f'got shape {arr.shape}')
        if len(arr) and arr.dtype.kind not in 'iub':
            self._float = True
        self.add_batch([str(key)], arr, [len(arr)])

    def add_batch(self, keys: Sequence[str], boxes: np.ndarray,
                  lengths: Sequence[int]) -> None:
        """Append several images at once.

        Args:
            keys (Sequence[str]): ``n`` image keys.
            boxes (np.ndarray): ``[sum(lengths), 4]`` boxes, image after
                image (the caller tracks integer-ness: see :meth:`add`).
            lengths (Sequence[int]): ``[n]`` boxes per image.
        """
        lengths = np.asarray(lengths, np.int64).reshape(-1)
        f32 = np.ascontiguousarray(np.asarray(boxes).reshape(-1, 4),
                                   dtype='<f4')
        if len(keys) != len(lengths) or len(f32) != int(lengths.sum()):
            raise ValueError('add_batch: keys, boxes and lengths disagree')
        self._boxes.write(f32.tobytes())
        xyxy = to_xyxy(f32, self.box_format)
        sizes = np.full((len(f32), 2), np.inf, np.float32)
        _, keep, changed = clean_boxes(xyxy, sizes)
        owner = np.repeat(np.arange(len(lengths)), lengths)
        n = len(lengths)
        self._kept.extend(np.bincount(owner[keep], minlength=n).tolist())
        self._clipped.extend(
            np.bincount(owner[keep & changed], minlength=n).tolist())
        self._lengths.extend(lengths.tolist())
        self._keys.extend(str(k) for k in keys)
        self.num_boxes += len(f32)

    def close(self,
              empty: Optional[Sequence[str]] = None,
              failed: Optional[Mapping[str, str]] = None,
              meta: Optional[dict] = None,
              legacy: bool = False,
              integer: Optional[bool] = None) -> None:
        """Write the arrays, lists and ``meta.json``; move the folder into
        place.

        Args:
            empty (Sequence[str], optional): Images with no proposal.
                Defaults to the added images with no box, in order.
            failed (Mapping[str, str], optional): Unreadable images ->
                reason.
            meta (dict, optional): The proposal file's ``meta``.
            legacy (bool): Converted from SoCo's legacy file.
            integer (bool, optional): Write back to JSON with integers.
                Defaults to: no float array was added.
        """
        if not self._open:
            return
        self._open = False
        lengths = np.frombuffer(self._lengths, np.int64) if len(
            self._lengths) else np.zeros(0, np.int64)
        if empty is None:
            empty = [k for k, n in zip(self._keys, lengths) if not n]
        header = self._npy_header(self.num_boxes)
        assert len(header) == len(self._header)
        self._boxes.seek(0)
        self._boxes.write(header)
        self._boxes.flush()
        os.fsync(self._boxes.fileno())
        self._boxes.close()

        def save(name, arr):
            np.save(osp.join(self._tmp, f'{name}.npy'), arr)

        save('offsets', np.concatenate([[0], np.cumsum(lengths)
                                        ]).astype(np.int64))
        save('keys', _bytes_array(self._keys))
        save('stats_kept', np.asarray(self._kept, np.int32))
        save('stats_clipped', np.asarray(self._clipped, np.int32))
        failed = {str(k): str(v) for k, v in (failed or {}).items()}
        empty = [str(k) for k in empty]
        for name, arr in _index_arrays(self._keys, list(failed) +
                                       empty).items():
            save(name, arr)
        with open(osp.join(self._tmp, LISTS_FILE), 'w') as f:
            json.dump(dict(empty=empty, failed=failed), f)
        head = dict(
            format=STORE_FORMAT,
            version=STORE_VERSION,
            box_format=self.box_format,
            integer=(not self._float) if integer is None else bool(integer),
            num_images=self.num_images,
            num_boxes=self.num_boxes,
            legacy=bool(legacy),
            meta=dict(meta or {}))
        with open(osp.join(self._tmp, META_FILE), 'w') as f:
            json.dump(head, f)
        self._replace()

    def _replace(self) -> None:
        """Move the temporary folder onto ``path`` (an old store there is
        moved aside first, then removed)."""
        old = None
        if osp.isdir(self.path):
            old = self._tmp + '.old'
            os.replace(self.path, old)
        os.replace(self._tmp, self.path)
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Remove the temporary folder; ``path`` is left as it was."""
        if self._open:
            self._open = False
            self._boxes.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _index_arrays(keys: Sequence[str],
                  other_keys: Sequence[str]) -> Dict[str, np.ndarray]:
    """The join index of a store (see the module doc).

    Args:
        keys (Sequence[str]): Image keys, row order (a later duplicate of a
            normalised key wins, as in the JSON reader).
        other_keys (Sequence[str]): Failed and empty keys.

    Returns:
        dict[str, np.ndarray]: ``index_*`` arrays.
    """
    rows: Dict[str, int] = {}
    for i, key in enumerate(keys):
        rows[norm_key(key)] = i
    for key in other_keys:
        rows.setdefault(norm_key(key), -1)
    ordered = sorted(rows, key=lambda k: k.encode('utf-8'))
    position = {k: i for i, k in enumerate(ordered)}
    out = dict(
        index_keys=_bytes_array(ordered),
        index_rows=np.array([rows[k] for k in ordered], np.int64))
    for table, name_of in (('index_names', osp.basename),
                           ('index_stems', stem)):
        names = unique_index(ordered, name_of)
        order = sorted(names, key=lambda k: k.encode('utf-8'))
        out[table] = _bytes_array(order)
        out[f'{table}_pos'] = np.array([position[names[n]] for n in order],
                                       np.int64)
    return out
