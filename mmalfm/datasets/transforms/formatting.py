# Copyright (c) mmalfm contributors. All rights reserved.
"""Packing multi-view samples for the model."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs

from mmalfm.registry import TRANSFORMS

__all__ = ['PackMultiViewInputs']


@TRANSFORMS.register_module()
class PackMultiViewInputs(PackInputs):
    """Pack K views and their geometry: mmpretrain's multi-view convention.

    A thin subclass of mmpretrain's ``PackInputs`` (which already turns a
    list of ``[H, W, C]`` arrays into a list of ``[C, H, W]`` tensors and
    fills a ``DataSample``); it only checks the input and turns the
    proposals into a tensor.

    Output of one image:

    * ``inputs``: list of K uint8 tensors ``[C, h_k, w_k]``. MMEngine's
      ``default_collate`` turns a batch of N into a list of K tensors
      ``[N, C, h_k, w_k]``, what ``SelfSupDataPreprocessor`` and
      ``BaseSelfSupervisor.loss(inputs, data_samples)`` expect.
    * ``data_samples``: one mmpretrain ``DataSample`` per image (collated
      as a plain list of N), holding

      - metainfo (plain Python/numpy, never moved to a device):
        ``view_geometry`` (``ViewGeometry.to_dict()`` of batch ``[K]``; on
        the model side ``ViewGeometry.collate([ds.view_geometry for ds in
        data_samples], device=...)`` gives batch ``[N, K]``), ``regions``
        (``Regions.to_dict()``: ``views [S]``, ``ids`` list of ``[M_s]``,
        ``boxes`` list of ``[M_s, 4]`` source boxes, ``pairs [Q, 2]``,
        ``info`` = the set facts; ``RegionBatch.build`` reads it back
        typed) when a sampler ran, ``img_path``, ``ori_shape``
        (``(H, W)`` of the source), ``img_shape`` (list of ``(h_k, w_k)``)
        and ``sample_idx``;
      - data field ``proposals``: float32 tensor ``[P, 4]`` of source
        boxes when the dataset has them (moved to the device with the data
        sample by the data preprocessor).

    Args:
        input_key (str): Key of the list of views. Defaults to ``'img'``.
        algorithm_keys (Sequence[str]): Data fields to copy (arrays become
            tensors). Defaults to ``('proposals',)``.
        meta_keys (Sequence[str]): Metainfo keys to copy. Defaults to
            :attr:`DEFAULT_META_KEYS`.
    """

    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                         'view_geometry', 'regions')

    def __init__(self,
                 input_key: str = 'img',
                 algorithm_keys: Sequence[str] = ('proposals', ),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        super().__init__(
            input_key=input_key,
            algorithm_keys=tuple(algorithm_keys),
            meta_keys=tuple(meta_keys))

    def transform(self, results: Dict) -> Dict:
        """Pack one image.

        Args:
            results (dict): Output of ``MultiViewCrop`` (and
                ``ViewPipelines``).

        Returns:
            dict: ``inputs`` (list of K ``[C, h, w]`` tensors) and
            ``data_samples`` (``DataSample``).
        """
        views = results.get(self.input_key)
        if not isinstance(views, list):
            raise TypeError(
                f'PackMultiViewInputs expects a list of views in results['
                f'{self.input_key!r}] (from MultiViewCrop), got '
                f'{type(views).__name__}')
        results = dict(results)
        for key in self.algorithm_keys:
            if isinstance(results.get(key), np.ndarray):
                results[key] = torch.from_numpy(results[key])
        if 'proposals' in results and results['proposals'] is not None:
            results['proposals'] = torch.as_tensor(
                results['proposals'], dtype=torch.float32).reshape(-1, 4)
        return super().transform(results)
