# Copyright (c) mmalfm contributors. All rights reserved.
"""Safe checkpoint loading on torch >= 2.6.

Since torch 2.6, :func:`torch.load` defaults to ``weights_only=True`` and
refuses any pickled class it does not know. MMEngine 0.10.7 pickles a few of
its own classes (the message hub's ``HistoryBuffer``) and NumPy arrays and
scalars into every checkpoint, so ``--resume`` of its own checkpoints fails.

We keep ``weights_only=True`` and allow-list exactly those classes, once, when
:mod:`mmalfm` is imported. Any other class is refused: our local-file loader
re-raises torch's error as :class:`UnsafeCheckpointError` naming the class and
the file.
"""
import os.path as osp
import pickle
import re
from typing import Any, Callable, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'UnsafeCheckpointError', 'safe_checkpoint_globals',
    'register_safe_checkpoint_globals', 'safe_load'
]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles a class outside mmalfm's allow-list."""


def _numpy_globals() -> List[Any]:
    """NumPy callables/classes that ``np.ndarray`` and NumPy scalars pickle
    into, under both the NumPy 1.x (``numpy.core``) and 2.x (``numpy._core``)
    names so a checkpoint written under either loads under both.

    Returns:
        list: Objects and ``(object, 'pickled.name')`` aliases for
        :func:`torch.serialization.add_safe_globals`.
    """
    try:  # NumPy >= 2 moved the core module.
        from numpy._core import multiarray  # type: ignore
    except ImportError:  # pragma: no cover - depends on the NumPy version
        from numpy.core import multiarray  # type: ignore
    found: List[Any] = [np.ndarray, np.dtype]
    for fn in (multiarray._reconstruct, multiarray.scalar):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            found.append((fn, f'{module}.{fn.__name__}'))
    dtypes = getattr(np, 'dtypes', None)  # NumPy >= 1.25 DType classes.
    if dtypes is not None:
        found += [
            cls for cls in vars(dtypes).values()
            if isinstance(cls, type) and cls.__name__.endswith('DType')
        ]
    return found


#: HistoryBuffer's built-in statistics (``HistoryBuffer._set_default_statistics``).
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """The only ``getattr`` MMEngine checkpoints need.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods
    (``HistoryBuffer.min``, ...), which Python writes as
    ``getattr(HistoryBuffer, 'min')``. Allow-listing the builtin ``getattr``
    would expose every attribute of every allowed object, so this stand-in
    resolves exactly the public statistics methods of ``HistoryBuffer`` (the
    built-in ones and those added with ``register_statistics``) and refuses
    anything else (``__init__``, ``__class__``, ``update``, ...).
    """
    allowed = set(_HISTORY_BUFFER_STATISTICS) | {
        key for key in HistoryBuffer._statistics_methods
        if not key.startswith('_')
    }
    if obj is HistoryBuffer and name in allowed and hasattr(obj, name):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        'GLOBAL builtins.getattr is only allowed for the statistics methods '
        f'of HistoryBuffer, not for {obj!r}.{name}')


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()`` as pickled (protocol 2) for an empty NumPy buffer.

    ``bytes(n)`` would allocate ``n`` bytes, so only the no-argument call
    is allowed.
    """
    if args:
        raise pickle.UnpicklingError(
            'GLOBAL builtins.bytes is only allowed without arguments')
    return b''


def safe_checkpoint_globals() -> List[Any]:
    """Everything outside torch's default allow-list that MMEngine checkpoints
    pickle: the message hub's ``HistoryBuffer`` (and its statistics methods,
    through a restricted ``getattr``) and NumPy arrays/scalars.

    Returns:
        list: Objects and ``(object, 'pickled.name')`` aliases for
        :func:`torch.serialization.add_safe_globals`.
    """
    return [
        HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'),
        (_empty_bytes, 'builtins.bytes')
    ] + _numpy_globals()


_UNSUPPORTED = re.compile(r'GLOBAL ([\w.]+)')


def safe_load(filename: str,
              map_location: Optional[Any] = None,
              loader: Callable = torch.load) -> Any:
    """``torch.load(weights_only=True)`` with mmalfm's allow-list and an error
    that names the offending class and the file.

    Args:
        filename (str): Path of the checkpoint.
        map_location: As in :func:`torch.load`.
        loader (Callable): The loading function (for tests).

    Returns:
        Any: The loaded object.

    Raises:
        FileNotFoundError: ``filename`` is not a file.
        UnsafeCheckpointError: The file pickles a class outside the allow-list.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    # Process-wide, not a `safe_globals` context: leaving such a context
    # would remove the allow-list that `import mmalfm` installed.
    register_safe_checkpoint_globals()
    try:
        return loader(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        match = _UNSUPPORTED.search(str(err))
        what = match.group(1) if match else 'an unsupported object'
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it pickles '
            f'`{what}`, which is not in mmalfm\'s allow-list of classes '
            'MMEngine checkpoints need. mmalfm never unpickles arbitrary '
            'code. If you made this file and trust it, extract its tensors '
            'with your own code or allow-list the class with '
            '`torch.serialization.add_safe_globals([...])` before loading.'
        ) from err


def _load_from_local(filename: str, map_location: Optional[Any] = None):
    return safe_load(filename, map_location=map_location)


_REGISTERED = False


def register_safe_checkpoint_globals() -> None:
    """Allow-list MMEngine's pickled classes and route local checkpoint
    loading (``load_checkpoint``, ``runner.resume``, ``load_from``) through
    :func:`safe_load`. Idempotent; run once when :mod:`mmalfm` is imported.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    torch.serialization.add_safe_globals(safe_checkpoint_globals())
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
    _REGISTERED = True
