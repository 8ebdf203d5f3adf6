# Copyright (c) mmalfm contributors. All rights reserved.
from .correspondence_byol import CorrespondenceBYOLLoss
from .info_nce import InfoNCELoss

__all__ = ['CorrespondenceBYOLLoss', 'InfoNCELoss']
from .gmsr import *  # noqa: F401,F403,E402
from .gmsr import __all__ as _gmsr_all  # noqa: E402
__all__ += _gmsr_all
from .distillation import *  # noqa: F401,F403,E402
from .distillation import __all__ as _distillation_all  # noqa: E402
__all__ += _distillation_all
