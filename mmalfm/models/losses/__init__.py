# Copyright (c) mmalfm contributors. All rights reserved.
from .correspondence_byol import CorrespondenceBYOLLoss
from .info_nce import InfoNCELoss
from .reid_nce import reid_nce, symmetric_reid_nce

__all__ = [
    'CorrespondenceBYOLLoss', 'InfoNCELoss', 'reid_nce', 'symmetric_reid_nce'
]
from ..utils.gather import gather_with_grad  # noqa: E402
from .coding_rate_loss import CodingRateLoss  # noqa: E402
from .gmsr import coding_rate  # noqa: E402
from .mec_loss import MECLoss  # noqa: E402
from .vicreg_loss import VICRegLoss  # noqa: E402
__all__ += [
    'coding_rate', 'gather_with_grad', 'CodingRateLoss', 'MECLoss',
    'VICRegLoss'
]
from .distillation import *  # noqa: F401,F403,E402
from .distillation import __all__ as _distillation_all  # noqa: E402
__all__ += _distillation_all
