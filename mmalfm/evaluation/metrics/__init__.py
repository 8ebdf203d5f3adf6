# Copyright (c) mmalfm contributors. All rights reserved.
"""Metrics of mmalfm (detection transfer benchmarks)."""
from .voc_multi_iou_metric import DETECTRON2_VOC_IOUS, VOCMultiIoUMetric

__all__ = ['DETECTRON2_VOC_IOUS', 'VOCMultiIoUMetric']
