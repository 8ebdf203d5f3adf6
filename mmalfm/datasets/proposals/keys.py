# Copyright (c) mmalfm contributors. All rights reserved.
"""Image keys: how an image of a data set is found in a proposal file.

An image is looked up by its path relative to the image prefix
(:func:`norm_key`), then by its basename, then by SoCo's key, the basename
up to its first dot (:func:`stem`). A basename or stem shared by two keys
of the file never matches (:func:`unique_index`).
"""
import os.path as osp
from typing import Callable, Dict, Iterable

__all__ = ['norm_key', 'stem', 'unique_index']


def norm_key(path: str) -> str:
    """Normalised relative path used to join images and proposals
    (``/`` separators, no leading ``./`` or ``/``)."""
    if '\\' not in path and not path.startswith(('.', '/')):
        return path  # already normal (most keys): no copies
    path = path.replace('\\', '/')
    while path.startswith('./'):
        path = path[2:]
    return path.lstrip('/')


def stem(path: str) -> str:
    """SoCo's key: the basename up to its first dot
    (``os.path.basename(path).split('.')[0]``)."""
    return osp.basename(path).split('.')[0]


def unique_index(keys: Iterable[str],
                 name_of: Callable[[str], str]) -> Dict[str, str]:
    """``{name_of(key): key}`` without names that occur more than once.

    Args:
        keys (Iterable[str]): Distinct keys.
        name_of (callable): ``key -> name`` (e.g. ``os.path.basename``).

    Returns:
        dict[str, str]: Each name that exactly one key has -> that key.
    """
    index: Dict[str, str] = {}
    clashes = set()
    for key in keys:
        name = name_of(key)
        if name in index:
            clashes.add(name)
        index[name] = key
    return {k: v for k, v in index.items() if k not in clashes}
