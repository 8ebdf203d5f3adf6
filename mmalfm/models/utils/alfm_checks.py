# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM's checks: its options and parts at build time, its views per step.

Every error names the ``model.<key>`` (or the pipeline transform) to fix.
"""
from typing import Optional, Sequence, Tuple

from torch import nn

from mmalfm.structures import RegionBatch

__all__ = [
    'check_alfm_config', 'check_alfm_options', 'check_alfm_parts',
    'check_alfm_views'
]

_VIEW_FIX = (' Make MultiViewCrop(views=[...]) give the context views of '
             'model.global_views and dict(kind="region_crop", num=...) '
             'local patches, with a region_sampler (e.g. '
             'ALFMRegionSampler(num_regions=...)), or change the model.')


def check_alfm_config(bn_groups: str, cdlp_head: Optional[dict],
                      cdlp_loss: Optional[dict], kwargs: dict) -> None:
    """Before any build: ``bn_groups``, CDLP on (head and loss) or off
    (neither), and no ``loss`` / ``predictor`` (ALFM has its own)."""
    if bn_groups not in ('batch', 'set'):
        raise ValueError(f"ALFM: bn_groups must be 'batch' or 'set', got "
                         f'{bn_groups!r}')
    if kwargs.get('loss') is not None or kwargs.get('predictor') is not None:
        raise ValueError('ALFM takes gmsr_loss / cdlp_loss / '
                         'redundancy_loss, not loss or predictor')
    if (cdlp_head is None) != (cdlp_loss is None):
        raise ValueError('ALFM: set both model.cdlp_head and '
                         'model.cdlp_loss (CDLP on) or neither (GMSR '
                         f'only); got cdlp_head={cdlp_head!r}, '
                         f'cdlp_loss={cdlp_loss!r}')


def check_alfm_options(global_views: Sequence[int],
                       level_thresholds: Sequence[float],
                       num_levels: Optional[int], local_level: Optional[int],
                       local_box: str, teacher_view: str) -> Tuple[int, int]:
    """Check the view and pooling options; return ``global_views`` as a
    tuple of two ints.

    Args:
        num_levels (int, optional): Levels of ``model.roi_pool`` (None
            without one).
    """
    views = tuple(int(v) for v in global_views)
    if len(views) != 2 or views[0] == views[1]:
        raise ValueError(f'global_views must be two different views, '
                         f'got {global_views}')
    if num_levels is not None and len(level_thresholds) != num_levels:
        raise ValueError(
            f'ALFM: {len(level_thresholds)} level_thresholds but '
            f'roi_pool has {num_levels} featmap_strides')
    if local_level is not None and num_levels is not None and \
            not 0 <= local_level < num_levels:
        raise ValueError(f'local_level must be None or in 0..'
                         f'{num_levels - 1}, got {local_level}')
    if local_box not in ('whole', 'region'):
        raise ValueError(f"local_box must be 'whole' or 'region', got "
                         f'{local_box!r}')
    if teacher_view not in ('global', 'local'):
        raise ValueError(f"teacher_view must be 'global' or 'local', "
                         f'got {teacher_view!r}')
    return views


def check_alfm_parts(model: nn.Module, target_ema: Optional[dict]) -> None:
    """The built parts fit together: a GMSR loss; the FPN, RoI head and
    pool of the region terms; a teacher and matching prototype counts for
    CDLP (``model.cdlp_head.num_prototypes == model.cdlp_loss.out_dim``).
    """
    if model.gmsr_loss is None:
        raise ValueError('ALFM needs model.gmsr_loss')
    if model.with_regions and None in (model.neck, model.roi_head,
                                       model.roi_pool):
        raise ValueError('ALFM: CDLP and the redundancy term need '
                         'model.neck, model.roi_head and model.roi_pool')
    if not model.with_cdlp:
        return
    if target_ema is None:
        raise ValueError('ALFM: CDLP needs a teacher (target_ema)')
    k_head = getattr(model.cdlp_head, 'num_prototypes', None)
    k_loss = getattr(model.cdlp_loss, 'out_dim', None)
    if k_head is not None and k_loss is not None and k_head != k_loss:
        raise ValueError(
            f'ALFM: model.cdlp_head.num_prototypes={k_head} but '
            f'model.cdlp_loss.out_dim={k_loss}; set them equal')


def check_alfm_views(batch: RegionBatch, global_views: Tuple[int, int],
                     teacher_view: str, with_regions: bool) -> None:
    """The batch has the GMSR views among its context views, local patches
    for ``teacher_view='local'`` and, with region terms, region pairs that
    join context views."""
    context = batch.context_views
    if not set(global_views) <= set(context):
        raise ValueError(
            f'ALFM: model.global_views={global_views} must be '
            f'context (non-local) views of the batch, which has '
            f'{batch.num_views} views, local patches at views '
            f'{batch.local_views}.' + _VIEW_FIX)
    if teacher_view == 'local' and not batch.local_sets:
        raise ValueError("ALFM: teacher_view='local' needs local "
                         'patches; the batch has none.' + _VIEW_FIX)
    if not with_regions:
        return
    batch.require_pairs('ALFM (CDLP/redundancy)', 'ALFMRegionSampler')
    bad = [(batch.sets[a].view, batch.sets[b].view) for a, b in batch.pairs
           if not {batch.sets[a].view, batch.sets[b].view} <= set(context)]
    if bad:
        raise ValueError(f'ALFM: region pairs must join context views, '
                         f'got view pairs {bad}.' + _VIEW_FIX)
