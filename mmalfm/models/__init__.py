# Copyright (c) mmalfm contributors. All rights reserved.
# Our registries are children of MMPretrain's: register its models too, so a
# config in the mmalfm scope finds them without a prefix.
import mmpretrain.models  # noqa: F401,E402

from .algorithms import *  # noqa: F401,F403,E402
from .heads import *  # noqa: F401,F403,E402
from .init import *  # noqa: F401,F403,E402
from .losses import *  # noqa: F401,F403,E402
from .necks import *  # noqa: F401,F403,E402
from .utils import *  # noqa: F401,F403,E402
from .wrappers import GlooDistributedDataParallel

__all__ = ['GlooDistributedDataParallel']
