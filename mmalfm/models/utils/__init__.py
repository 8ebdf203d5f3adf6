# Copyright (c) mmalfm contributors. All rights reserved.
from .correspondence import (assign_soco_levels, id_correspondence,
                             match_ids, scale_aware_slot_ids, take_rows)
from .negatives import *  # noqa: F401,F403
from .negatives import __all__ as _negatives_all
from .gather import gather_with_grad
from .grouped_bn import SlotGroups, grouped_bn_stats
from .health import HEALTH_INFO_KEY, StepHealth, publish_health
from .roi_pool import MultiLevelRoIPool
from .cell_embedding import embed_valid_cells
from .dupr_masks import check_mask_args, important_cells, large_cells
from .enqueue import enqueue_valid_keys
from .patch_levels import build_patch_levels
from .set_levels import region_set_levels

__all__ = [
    'scale_aware_slot_ids', 'id_correspondence', 'assign_soco_levels',
    'match_ids', 'take_rows',
    'MultiLevelRoIPool', 'SlotGroups', 'grouped_bn_stats', 'gather_with_grad',
    'HEALTH_INFO_KEY', 'StepHealth', 'publish_health', 'embed_valid_cells',
    'check_mask_args', 'important_cells', 'large_cells', 'enqueue_valid_keys',
    'build_patch_levels', 'region_set_levels'
]
__all__ += _negatives_all
from .prroi_pool import *  # noqa: F401,F403,E402
from .prroi_pool import __all__ as _prroi_pool_all  # noqa: E402
__all__ += _prroi_pool_all
