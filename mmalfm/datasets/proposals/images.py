# Copyright (c) mmalfm contributors. All rights reserved.
"""The image list a proposal tool processes: keys relative to the image
prefix, in a fixed order (the order of the proposal file's ``images``)."""
import json
import os
import os.path as osp
from typing import List, Optional, Tuple

__all__ = ['IMG_EXTENSIONS', 'list_images']

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


def _posix(path: str) -> str:
    return path.replace(os.sep, '/')


def list_images(source: str,
                img_prefix: Optional[str] = None) -> Tuple[str, List[str]]:
    """The image prefix and the relative image paths to process.

    Args:
        source (str): Image folder (walked recursively: folders and file
            names sorted, as ``UnlabeledImageDataset`` scans) or a COCO json
            (its ``images``, sorted by id, duplicates dropped).
        img_prefix (str, optional): Folder the keys are relative to (the
            image folder by default; required with a COCO json).

    Returns:
        tuple[str, list[str]]: Prefix and unique relative paths (``/``).

    Raises:
        ValueError: The folder is not inside ``img_prefix``, the json is not
            COCO, or ``source`` is neither a folder nor a json file.
    """
    if osp.isdir(source):
        prefix = img_prefix or source
        root = osp.abspath(source)
        if osp.relpath(root, osp.abspath(prefix)).startswith(os.pardir):
            raise ValueError(f'image folder {source!r} is not inside '
                             f'--img-prefix {prefix!r}')
        rels = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames.sort()
            rels += [
                _posix(osp.relpath(osp.join(dirpath, name),
                                   osp.abspath(prefix)))
                for name in sorted(filenames)
                if name.lower().endswith(IMG_EXTENSIONS)
            ]
        return prefix, rels
    if source.endswith('.json') and osp.isfile(source):
        with open(source) as f:
            coco = json.load(f)
        if not isinstance(coco, dict) or 'images' not in coco:
            raise ValueError(f'{source!r} is not a COCO-format file (no '
                             '"images" list)')
        images = sorted(coco['images'], key=lambda img: img.get('id', 0))
        rels = list(dict.fromkeys(_posix(img['file_name'])
                                  for img in images))
        return img_prefix, rels
    raise ValueError(f'{source!r} is neither a folder nor a COCO json')
