# Copyright (c) mmalfm contributors. All rights reserved.
from .correspondence_byol import CorrespondenceBYOLLoss
from .info_nce import InfoNCELoss

__all__ = ['CorrespondenceBYOLLoss', 'InfoNCELoss']
