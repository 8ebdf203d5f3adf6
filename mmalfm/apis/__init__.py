# Copyright (c) mmalfm contributors. All rights reserved.
"""Workflows on top of the models, data and engine: exporting pretrained
weights for fine-tuning, resolving the demo's methods. The top layer: the
lower packages (``mmalfm.utils``, ``mmalfm.structures``) never import it."""
from .export import (ExportError, check_export, detect_method,
                     export_detectron2, export_methods, export_mmdet,
                     load_training_checkpoint, save_detectron2_export,
                     save_mmdet_export)

__all__ = [
    'ExportError', 'check_export', 'detect_method', 'export_detectron2',
    'export_methods', 'export_mmdet', 'load_training_checkpoint',
    'save_detectron2_export', 'save_mmdet_export'
]
