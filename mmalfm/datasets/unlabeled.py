# Copyright (c) mmalfm contributors. All rights reserved.
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset
from mmengine.fileio import join_path

from mmalfm.registry import DATASETS
from .seeding import SeededItemsMixin

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


@DATASETS.register_module()
class UnlabeledImageDataset(SeededItemsMixin, BaseDataset):
    """Images for self-supervised pretraining; labels are never read.

    The images come from one of three sources, picked by ``ann_file``:

    * ``ann_file=''``: every image under ``data_root/data_prefix['img_path']``
      (recursively, sorted, so an ImageNet ``train/`` folder works as is);
    * a ``.json`` file in COCO format: its ``images`` (``file_name`` relative
      to the image prefix); annotations are ignored;
    * any other file: a list with one relative image path per line; anything
      after the first whitespace (an ImageNet label) is ignored.

    Each item is ``dict(img_path=..., sample_idx=...)`` plus ``img_id``,
    ``width`` and ``height`` when the COCO file gives them.

    Args:
        ann_file (str): See above. Defaults to ''.
        data_root (str): Root of ``ann_file`` and of the image prefix.
        data_prefix (dict): ``dict(img_path=...)``, the image folder.
            Defaults to ``dict(img_path='')``.
        extensions (Sequence[str]): Image file extensions scanned in folder
            mode. Defaults to common image extensions.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``indices``, ``serialize_data``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self,
                 ann_file: str = '',
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 **kwargs) -> None:
        self.extensions = tuple(ext.lower() for ext in extensions)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix or dict(img_path=''),
            **kwargs)

    @property
    def img_prefix(self) -> str:
        """The image folder, joined with ``data_root``."""
        return self.data_prefix['img_path']

    def load_data_list(self) -> List[dict]:
        """Read the image list from the folder, COCO json or list file."""
        if not self.ann_file:
            entries = [(path, {}) for path in self._scan_folder()]
        elif self.ann_file.endswith('.json'):
            entries = self._read_coco()
        else:
            entries = [(path, {}) for path in self._read_list()]
        if not entries:
            source = self.ann_file or self.img_prefix
            raise ValueError(
                f'{type(self).__name__}: no images found in {source!r}. '
                'Check `data_root`, `data_prefix.img_path` and `ann_file` '
                f'(folder mode looks for {", ".join(self.extensions)}).')
        return [
            dict(img_path=join_path(self.img_prefix, rel), **extra)
            for rel, extra in entries
        ]

    def _scan_folder(self) -> List[str]:
        root = self.img_prefix
        if not osp.isdir(root):
            raise FileNotFoundError(
                f'{type(self).__name__}: image folder {root!r} does not '
                'exist. Set `data_root`/`data_prefix.img_path` to the folder '
                'of training images.')
        found = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames.sort()
            found += [
                osp.relpath(osp.join(dirpath, name), root)
                for name in sorted(filenames)
                if name.lower().endswith(self.extensions)
            ]
        return found

    def _read_list(self) -> List[str]:
        with open(self.ann_file) as f:
            lines = [line.split(maxsplit=1) for line in f]
        return [parts[0] for parts in lines if parts]

    def _read_coco(self) -> List[Tuple[str, dict]]:
        with open(self.ann_file) as f:
            coco = json.load(f)
        if 'images' not in coco:
            raise ValueError(f'{self.ann_file!r} is not a COCO-format file: '
                             'it has no "images" list.')
        images = sorted(coco['images'], key=lambda img: img['id'])
        return [(img['file_name'],
                 dict(img_id=img['id'],
                      width=img.get('width'),
                      height=img.get('height'))) for img in images]
