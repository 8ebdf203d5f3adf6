# Copyright (c) mmalfm contributors. All rights reserved.
"""Either proposal format, chosen by path.

* **Writing**: a path ending in ``.json`` gets a JSON proposal file
  (:class:`~.io.JSONProposalWriter`); any other path a binary store folder
  (:class:`~.store.ProposalStoreWriter`).
* **Reading**: an existing folder is a store, anything else a JSON file
  (ours or SoCo's legacy one).

**Canonical JSON.** A JSON proposal file as our tools write it: compact
separators, keys in file order, the top-level keys in the order of
:mod:`.io`, integer boxes written as integers when every box value of the
file is an integer, float boxes as the float64 text of their float32 value.
JSON -> store -> JSON gives back a canonical file byte for byte; any other
file comes back in canonical form with the same content as the dataset
reads it (boxes are float32 in both; a SoCo legacy file comes back in our
format, same keys and boxes).
"""
import os.path as osp
from typing import Iterator, Tuple, Union

import numpy as np

from .io import JSONProposalWriter, read_proposal_file
from .store import ProposalStore, ProposalStoreWriter, is_store

__all__ = [
    'writes_store', 'open_writer', 'read_proposals', 'iter_images',
    'write_record', 'convert_proposals'
]

Writer = Union[JSONProposalWriter, ProposalStoreWriter]


def writes_store(path: str) -> bool:
    """Whether writing to ``path`` makes a store (not a ``.json`` path)."""
    return not path.endswith('.json')


def open_writer(path: str, box_format: str = 'xywh') -> Writer:
    """A JSON or store writer for ``path`` (see the module doc).

    Both have ``add(key, boxes)``, ``close(empty=, failed=, meta=)``,
    ``abort()`` and work as context managers.
    """
    if writes_store(path):
        return ProposalStoreWriter(path, box_format)
    return JSONProposalWriter(path, box_format)


def read_proposals(path: str, backend_args=None) -> dict:
    """The record of a JSON file or a store (as
    :func:`~.io.read_proposal_file` returns it).

    Args:
        path (str): JSON file or store folder.
        backend_args (dict, optional): MMEngine file backend (JSON only).

    Returns:
        dict: ``images``, ``box_format``, ``empty``, ``failed``, ``meta``,
        ``legacy``, ``integer``.
    """
    if is_store(path):
        store = ProposalStore(path)
        store.validate()
        try:
            return store.to_record()
        finally:
            store.close()
    return read_proposal_file(path, backend_args)


def _as_written(boxes: np.ndarray, integer: bool) -> np.ndarray:
    """Boxes as a writer should get them (int64 when the file is
    integer)."""
    return boxes.astype(np.int64) if integer and boxes.size else boxes


def iter_images(path: str) -> Tuple[dict, Iterator[Tuple[str, np.ndarray]]]:
    """The header of a JSON file or store and an iterator over its images.

    A store is streamed (constant memory); a JSON file is parsed whole.

    Returns:
        tuple[dict, Iterator]: The record without ``images``, and
        ``(key, boxes)`` pairs in file order, integer arrays for an integer
        file.
    """
    if is_store(path):
        store = ProposalStore(path)
        store.validate()
        head = dict(box_format=store.box_format, empty=store.empty,
                    failed=store.failed, meta=store.meta,
                    legacy=store.legacy, integer=store.integer)

        def images():
            try:
                for key, boxes in store.images():
                    yield key, _as_written(boxes, store.integer)
            finally:
                store.close()

        return head, images()
    record = read_proposal_file(path)
    images = record.pop('images')
    return record, ((k, _as_written(v, record['integer']))
                    for k, v in images.items())


def write_record(path: str, head: dict, images) -> None:
    """Write a record (or a header and an image iterator) to ``path``.

    Args:
        path (str): JSON file or store folder (see :func:`writes_store`).
        head (dict): ``box_format``, ``empty``, ``failed``, ``meta`` and
            optionally ``legacy``, ``integer``.
        images (Mapping | Iterable): ``{key: boxes}`` or ``(key, boxes)``
            pairs.
    """
    pairs = images.items() if hasattr(images, 'items') else images
    integer = head.get('integer', False)
    with open_writer(path, head['box_format']) as writer:
        for key, boxes in pairs:
            writer.add(key, _as_written(np.asarray(boxes), integer))
        if isinstance(writer, ProposalStoreWriter):
            writer.close(head['empty'], head['failed'], head['meta'],
                         legacy=head.get('legacy', False), integer=integer)
        else:
            writer.close(head['empty'], head['failed'], head['meta'])


def convert_proposals(src: str, dst: str) -> dict:
    """Convert between JSON and the store (either direction; also JSON ->
    canonical JSON and store -> store).

    Args:
        src (str): JSON file or store folder.
        dst (str): ``.json`` path or store folder.

    Returns:
        dict: ``num_images``, ``empty``, ``failed`` counts.
    """
    if osp.abspath(src) == osp.abspath(dst):
        raise ValueError(f'convert: source and destination are the same '
                         f'({src!r})')
    head, images = iter_images(src)
    counter = dict(num_images=0)

    def counted():
        for pair in images:
            counter['num_images'] += 1
            yield pair

    write_record(dst, head, counted())
    return dict(num_images=counter['num_images'], empty=len(head['empty']),
                failed=len(head['failed']))
