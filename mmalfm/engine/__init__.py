# Copyright (c) mmalfm contributors. All rights reserved.
# Our registries are children of MMPretrain's: register its engine too, so a
# config in the mmalfm scope finds them without a prefix.
import mmpretrain.engine  # noqa: F401,E402
from .hooks import *  # noqa: F401,F403,E402
from .optimizers import *  # noqa: F401,F403,E402
