# Copyright (c) mmalfm contributors. All rights reserved.
# Our registries are children of MMPretrain's: register its datasets and
# transforms too, so a config in the mmalfm scope finds them without a prefix.
import mmpretrain.datasets  # noqa: F401

from .proposal_dataset import ProposalDataset
from .transforms import *  # noqa: F401,F403
from .unlabeled import UnlabeledImageDataset

__all__ = ['UnlabeledImageDataset', 'ProposalDataset']
