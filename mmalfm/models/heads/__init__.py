# Copyright (c) mmalfm contributors. All rights reserved.
from .roi_feature_head import ConvFCRoIFeatureHead, RegionRoIHead

__all__ = ['ConvFCRoIFeatureHead', 'RegionRoIHead']
from .prototype_head import *  # noqa: F401,F403,E402
from .prototype_head import __all__ as _prototype_head_all  # noqa: E402
__all__ += _prototype_head_all
from .moco_queue_head import *  # noqa: F401,F403,E402
from .moco_queue_head import __all__ as _moco_queue_head_all  # noqa: E402
__all__ += _moco_queue_head_all
from .res_layer_extra_norm import *  # noqa: F401,F403,E402
from .res_layer_extra_norm import __all__ as _res_layer_extra_norm_all  # noqa: E402
__all__ += _res_layer_extra_norm_all
from .region_head import *  # noqa: F401,F403,E402
from .region_head import __all__ as _region_head_all  # noqa: E402
__all__ += _region_head_all
from .roi_embedding import *  # noqa: F401,F403,E402
from .roi_embedding import __all__ as _roi_embedding_all  # noqa: E402
__all__ += _roi_embedding_all
from .soco_region_head import *  # noqa: F401,F403,E402
from .soco_region_head import __all__ as _soco_region_head_all  # noqa: E402
__all__ += _soco_region_head_all
from .gmsr_head import *  # noqa: F401,F403,E402
from .gmsr_head import __all__ as _gmsr_head_all  # noqa: E402
__all__ += _gmsr_head_all
from .cdlp_head import *  # noqa: F401,F403,E402
from .cdlp_head import __all__ as _cdlp_head_all  # noqa: E402
__all__ += _cdlp_head_all
from .moco_global_head import *  # noqa: F401,F403,E402
from .moco_global_head import __all__ as _moco_global_head_all  # noqa: E402
__all__ += _moco_global_head_all
from .patch_reid_head import *  # noqa: F401,F403,E402
from .patch_reid_head import __all__ as _patch_reid_head_all  # noqa: E402
__all__ += _patch_reid_head_all
from .cross_stage_region_head import *  # noqa: F401,F403,E402
from .cross_stage_region_head import __all__ as _cross_stage_region_head_all  # noqa: E402
__all__ += _cross_stage_region_head_all
