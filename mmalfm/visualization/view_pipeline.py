# Copyright (c) mmalfm contributors. All rights reserved.
"""The geometric half of a pretraining config's train pipeline: its
``MultiViewCrop`` (views, flips and region sampler exactly as configured),
without the photometric transforms that follow it."""
import copy
import os.path as osp
from typing import List, Optional, Tuple, Union

from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from mmalfm.datasets.transforms import MultiViewCrop
from mmalfm.registry import TRANSFORMS
from mmalfm.utils.mim import resolve_config

#: Where the train pipeline is looked for, for error messages.
SEARCHED = ('train_dataloader.dataset.pipeline (also inside wrapper '
            'datasets: dataset.dataset, dataset.datasets)')


def load_config(config: Union[str, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """A config from a path (``mmalfm::DIR/NAME.py`` too) or a ``Config``,
    with ``cfg_options`` merged in (``--cfg-options`` keys; list indices
    such as ``pipeline.1.views.0.size`` work)."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        cfg = Config.fromfile(resolve_config(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def config_name(cfg: Config) -> str:
    """The config file's name without ``.py`` (``'config'`` without a
    file)."""
    name = osp.splitext(osp.basename(cfg.filename or ''))[0]
    return name or 'config'


def _is_multi_view_crop(transform) -> bool:
    kind = transform.get('type') if isinstance(transform, dict) else None
    if isinstance(kind, str):
        return kind.split('.')[-1] == MultiViewCrop.__name__
    return isinstance(kind, type) and issubclass(kind, MultiViewCrop)


def _pipelines(dataset) -> List[list]:
    """The ``pipeline`` lists of a dataset config and the datasets it
    wraps, outermost first."""
    if not isinstance(dataset, dict):
        return []
    out = [dataset['pipeline']] if isinstance(dataset.get('pipeline'),
                                              (list, tuple)) else []
    inner = dataset.get('dataset')
    inner = [inner] if inner is not None else list(
        dataset.get('datasets') or [])
    for d in inner:
        out.extend(_pipelines(d))
    return out


def find_multi_view_crop(cfg: Config) -> dict:
    """The ``MultiViewCrop`` entry of the config's train pipeline.

    Args:
        cfg (Config): A pretraining config.

    Returns:
        dict: A copy of the first ``MultiViewCrop`` config found (plain
        ``dict``).

    Raises:
        ValueError: The config has no train dataset or no ``MultiViewCrop``
            in its pipelines; the message names the config.
    """
    where = cfg.filename or 'the given config'
    dataset = cfg.get('train_dataloader', {}).get('dataset')
    if dataset is None:
        raise ValueError(
            f'{where}: no train_dataloader.dataset; browsing views needs a '
            'pretraining config whose train pipeline draws the views with '
            'MultiViewCrop')
    for pipeline in _pipelines(dataset):
        for transform in pipeline:
            if _is_multi_view_crop(transform):
                t = transform.to_dict() if isinstance(
                    transform, ConfigDict) else transform
                return copy.deepcopy(dict(t))
    raise ValueError(
        f'{where}: no MultiViewCrop in {SEARCHED}; browsing views needs a '
        'pretraining config whose train pipeline draws the views with '
        'MultiViewCrop (e.g. configs/soco/, configs/crosscl/, configs/dupr/,'
        ' configs/alfm/)')


def build_view_transform(
        config: Union[str, Config],
        cfg_options: Optional[dict] = None) -> Tuple[MultiViewCrop, Config]:
    """Build a config's ``MultiViewCrop`` with its region sampler, as
    configured; the photometric transforms of the pipeline are left out.

    Whether the images need proposals is the built sampler's
    ``needs_proposals`` (``transform.region_sampler``).

    Args:
        config (str | Config): Config path (``mmalfm::...`` too) or
            ``Config``.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        tuple[MultiViewCrop, Config]: The transform and the merged config.
    """
    cfg = load_config(config, cfg_options)
    transform_cfg = find_multi_view_crop(cfg)
    with DefaultScope.overwrite_default_scope('mmalfm'):
        transform = TRANSFORMS.build(transform_cfg)
    return transform, cfg
