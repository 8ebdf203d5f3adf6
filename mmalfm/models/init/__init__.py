# Copyright (c) mmalfm contributors. All rights reserved.
from .pretrained_export import (EXPORT_TOOL, ExportMismatchError,
                                PretrainedExport)

__all__ = ['EXPORT_TOOL', 'ExportMismatchError', 'PretrainedExport']
