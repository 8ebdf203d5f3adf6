# Copyright (c) mmalfm contributors. All rights reserved.
"""Model config keys retired because the data pipeline states the fact."""

__all__ = ['RETIRED_KEYS', 'reject_retired']

#: Model keys whose facts now come from the data pipeline: key -> where.
RETIRED_KEYS = {
    'view_pairs': 'the region sampler (SoCoRegionSampler(pairs=...))',
    'window': 'the region sampler (CrossCLWindowSampler(window=...))',
    'window_stride': 'the region sampler (CrossCLWindowSampler(stride=...))',
    'num_views': 'MultiViewCrop(views=[...])',
    'num_local_views': "MultiViewCrop(views=[..., dict(kind='region_crop')])",
}


def reject_retired(name: str, kwargs: dict) -> None:
    """Raise for model keys the data pipeline now decides (or unknown)."""
    retired = [k for k in kwargs if k in RETIRED_KEYS]
    if retired:
        raise ValueError('; '.join(
            f'model.{k} was removed from {name}: the fact now comes from the '
            f'data pipeline ({RETIRED_KEYS[k]}); delete model.{k} from the '
            'config' for k in retired))
    if kwargs:
        raise TypeError(f'{name}.__init__() got unexpected keyword '
                        f'arguments {sorted(kwargs)}')
