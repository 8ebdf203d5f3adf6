# Copyright (c) mmalfm contributors. All rights reserved.
"""Robust image loading for large unlabeled image sets.

ImageNet and COCO contain a handful of files that ``mmcv``'s
``LoadImageFromFile`` either rejects with an assertion or, worse, decodes
silently: CMYK and grayscale JPEGs, 16-bit or RGBA PNGs, and truncated files
(OpenCV decodes a JPEG cut in half and fills the rest with grey, printing a
warning nobody reads). :class:`LoadImageWithCheck` turns every image into an
8-bit, 3-channel array and refuses truncated files explicitly.
"""
import logging
import multiprocessing
from typing import Dict, Optional, Set

import cv2
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mmalfm.registry import TRANSFORMS

__all__ = ['CorruptImageError', 'LoadImageWithCheck', 'to_uint8_bgr']

#: How far from the end of a file the JPEG end-of-image marker / PNG ``IEND``
#: chunk may lie (some writers append a few padding bytes after it). A JPEG
#: cut in half keeps any earlier ``FFD9`` (e.g. of an EXIF thumbnail) far
#: from its new end, so it is still caught.
_TAIL_BYTES = 1024
_JPEG_MAGIC = b'\xff\xd8\xff'
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


_FIX_HINT = ('Re-download or re-encode the file, remove it from the image '
             'list, or set `skip_corrupt=True` in LoadImageWithCheck to skip '
             'it (training only).')


class CorruptImageError(OSError):
    """An image file is empty, truncated or cannot be decoded.

    Args:
        message (str): The full message (file, reason, fix).
        reason (str): The reason alone, e.g. ``'the file is empty (0
            bytes)'``. Defaults to the message.
    """

    def __init__(self, message: str, reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.reason = reason or message


def _check_container(data: bytes) -> Optional[str]:
    """Why ``data`` is not a complete image file, or None if it may be.

    Only the JPEG and PNG end markers are checked here; any other format is
    left to the decoder.

    Args:
        data (bytes): The whole file.

    Returns:
        str | None: The reason, or None.
    """
    if not data:
        return 'the file is empty (0 bytes)'
    tail = data[-_TAIL_BYTES:]
    if data.startswith(_JPEG_MAGIC) and b'\xff\xd9' not in tail:
        return 'truncated JPEG (no end-of-image marker FFD9 at the end)'
    if data.startswith(_PNG_MAGIC) and b'IEND' not in tail:
        return 'truncated PNG (no IEND chunk at the end)'
    return None


def _decode(data: bytes) -> Optional[np.ndarray]:
    """Decode with OpenCV keeping depth and alpha, ignoring EXIF rotation.

    ``IMREAD_UNCHANGED`` (instead of mmcv's default ``'color'`` flag) keeps
    16-bit depth and the alpha channel so that :func:`to_uint8_bgr` can
    convert them properly instead of letting OpenCV truncate; it also leaves
    the EXIF orientation alone, like PIL/torchvision and the selective-search
    tool, so offline proposals stay aligned with the pixels.

    Args:
        data (bytes): Encoded image.

    Returns:
        np.ndarray | None: ``[H, W]`` or ``[H, W, C]`` array, None on failure.
    """
    try:
        return cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None


def _to_8bit(img: np.ndarray) -> np.ndarray:
    """Scale any integer/float depth to uint8 (scale, never clip).

    Unsigned integers are scaled by ``255 / max`` with rounding (16 bit:
    ``v / 257``, so 65535 -> 255 and 257 -> 1); floats are taken as
    ``[0, 1]`` intensities.
    """
    if img.dtype == np.uint8:
        return img
    if np.issubdtype(img.dtype, np.unsignedinteger):
        scale = 255.0 / np.iinfo(img.dtype).max
        return np.rint(img.astype(np.float32) * scale).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    raise ValueError(f'unsupported pixel type {img.dtype}')


def to_uint8_bgr(img: np.ndarray, alpha: str = 'drop') -> np.ndarray:
    """Any decoded image -> ``[H, W, 3]`` uint8 BGR.

    Args:
        img (np.ndarray): ``[H, W]`` gray, ``[H, W, 1]``, ``[H, W, 2]``
            gray + alpha, ``[H, W, 3]`` BGR or ``[H, W, 4]`` BGRA, any depth
            (OpenCV already converts CMYK JPEGs to BGR).
        alpha (str): ``'drop'``: ignore the alpha channel (what OpenCV's
            ``IMREAD_COLOR``, mmcv and PIL's ``convert('RGB')`` do: the
            colour stored under transparent pixels shows); ``'black'``:
            composite on black (``colour * alpha / max``).

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8, C-contiguous.
    """
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[2]
    if channels not in (1, 2, 3, 4):
        raise ValueError(f'unsupported number of channels {channels}')
    has_alpha = channels in (2, 4)
    colour = img[..., :channels - 1] if has_alpha else img
    if has_alpha and alpha == 'black':
        # composite in [0, 1] floats, then the usual 8-bit scaling
        full = _max_value(img.dtype)
        colour = (colour.astype(np.float32) / full) * \
            (img[..., -1:].astype(np.float32) / full)
    elif alpha not in ('drop', 'black'):
        raise ValueError(f"alpha must be 'drop' or 'black', got {alpha!r}")
    colour = _to_8bit(colour)
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    return np.ascontiguousarray(colour)


def _max_value(dtype: np.dtype) -> float:
    """Full-scale value of a pixel type (1.0 for floats)."""
    return float(np.iinfo(dtype).max) if dtype.kind in 'ui' else 1.0


@TRANSFORMS.register_module()
class LoadImageWithCheck(BaseTransform):
    """Load any image as ``[H, W, 3]`` uint8 and refuse corrupt files.

    Differences from mmcv's ``LoadImageFromFile`` (whose file I/O through
    ``mmengine.fileio.get`` and ``backend_args`` it keeps):

    * grayscale -> 3 channels; CMYK JPEG -> BGR (OpenCV); 16-bit -> 8-bit
      by scaling (``v / 257``, 65535 -> 255), never by clipping; alpha
      dropped (default, as mmcv/PIL) or composited on black;
    * EXIF orientation is **ignored** (as PIL/torchvision and SoCo's
      selective search), so offline proposals match the pixels;
    * an empty file, a JPEG without its end-of-image marker, a PNG without
      ``IEND`` or a decode failure raises :class:`CorruptImageError` naming
      the file and the fix, or, with ``skip_corrupt=True``, logs one
      warning per file and returns None: MMEngine's ``BaseDataset`` then
      fetches another image (up to ``max_refetch`` times; in ``test_mode``
      it raises instead).

    Skipped loads are counted in shared memory (:meth:`skipped_count`), so
    the main process sees the skips of every forked dataloader worker
    (MMEngine's default ``mp_start_method='fork'``; with ``spawn`` each
    worker counts its own); ``RepresentationHealthHook`` logs the count.

    **Required keys:** ``img_path``. **Added keys:** ``img`` (uint8
    ``[H, W, 3]``), ``img_shape`` and ``ori_shape`` (``(H, W)``).

    Args:
        to_rgb (bool): Return RGB instead of mmcv's BGR. Keep False when the
            data preprocessor converts (``SelfSupDataPreprocessor(
            to_rgb=True)`` expects BGR). Defaults to False.
        skip_corrupt (bool): Skip corrupt files (return None) instead of
            raising. Defaults to True (training); set False to validate a
            data set. A missing file always raises ``FileNotFoundError``.
        alpha (str): ``'drop'`` or ``'black'``; see :func:`to_uint8_bgr`.
        backend_args (dict, optional): File backend, as in mmcv.
    """

    #: Skipped (corrupt) loads, shared with forked dataloader workers.
    _num_skipped = multiprocessing.Value('q', 0)
    #: The distinct files skipped by this process (one warning each).
    skipped_files: Set[str] = set()

    def __init__(self,
                 to_rgb: bool = False,
                 skip_corrupt: bool = True,
                 alpha: str = 'drop',
                 backend_args: Optional[dict] = None) -> None:
        if alpha not in ('drop', 'black'):
            raise ValueError(f"alpha must be 'drop' or 'black', got {alpha!r}")
        self.to_rgb = to_rgb
        self.skip_corrupt = skip_corrupt
        self.alpha = alpha
        self.backend_args = backend_args.copy() if backend_args else None

    def transform(self, results: Dict) -> Optional[Dict]:
        """Load ``results['img_path']``.

        Args:
            results (dict): Must hold ``img_path``.

        Returns:
            dict | None: ``results`` with ``img``, ``img_shape``,
            ``ori_shape``; None when a corrupt file is skipped.
        """
        path = results['img_path']
        try:
            img = self._load(path)
        except CorruptImageError as err:
            if not self.skip_corrupt:
                raise
            self._record_skip(path, err.reason)
            return None
        if self.to_rgb:
            img = np.ascontiguousarray(img[..., ::-1])
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _load(self, path: str) -> np.ndarray:
        """Read, check and decode one file into ``[H, W, 3]`` uint8 BGR."""
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'Image {path!r} does not exist. Check `data_root`, '
                '`data_prefix` and the image list of the dataset.') from e
        reason = _check_container(data)
        img = None if reason else _decode(data)
        if img is None and reason is None:
            reason = 'OpenCV cannot decode it (not an image or corrupt)'
        if reason is None:
            try:
                return to_uint8_bgr(img, self.alpha)
            except ValueError as e:
                reason = str(e)
        raise CorruptImageError(
            f'Corrupt image {path!r}: {reason}. {_FIX_HINT}', reason)

    @classmethod
    def _record_skip(cls, path: str, reason: str) -> None:
        """Count a skipped file and warn once per distinct file."""
        with cls._num_skipped.get_lock():
            cls._num_skipped.value += 1
            first = path not in cls.skipped_files
            cls.skipped_files.add(path)
        if first:
            print_log(
                f'Skipping corrupt image {path!r} ({reason}); another image '
                'is loaded instead. Re-encode or remove it to silence this '
                'warning.',
                logger='current',
                level=logging.WARNING)

    @classmethod
    def skipped_count(cls) -> int:
        """Corrupt images skipped so far, by this process and its forked
        dataloader workers."""
        return int(cls._num_skipped.value)

    @classmethod
    def reset_skip_counter(cls) -> None:
        """Forget the skipped files (tests, or a new run in one process)."""
        with cls._num_skipped.get_lock():
            cls._num_skipped.value = 0
            cls.skipped_files = set()

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(to_rgb={self.to_rgb}, '
                f'skip_corrupt={self.skip_corrupt}, alpha={self.alpha!r}, '
                f'backend_args={self.backend_args})')
