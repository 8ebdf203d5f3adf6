# Copyright (c) mmalfm contributors. All rights reserved.
"""Detectron2's Pascal VOC AP (AP@[.50:.05:.95] of the VOC07 11-point AP)."""
from collections import OrderedDict
from typing import List, Sequence

import numpy as np
from mmdet.evaluation.functional import eval_map
from mmdet.evaluation.metrics import VOCMetric
from mmengine.logging import MMLogger

from mmalfm.registry import METRICS

__all__ = ['VOCMultiIoUMetric', 'DETECTRON2_VOC_IOUS']

#: IoU thresholds 0.50:0.05:0.95 of detectron2's PascalVOCDetectionEvaluator.
DETECTRON2_VOC_IOUS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


@METRICS.register_module()
class VOCMultiIoUMetric(VOCMetric):
    """The VOC metric of the MoCo detection protocol (detectron2).

    Detectron2's ``PascalVOCDetectionEvaluator`` (used by MoCo, SoCo,
    CrossCL, DetCo, ...) reports ``AP`` = the mean over IoU thresholds
    0.50:0.05:0.95 of the class-mean VOC07 11-point AP, plus ``AP50`` and
    ``AP75``, in percent. MMDetection's :class:`VOCMetric` reports AP50 only
    by default; this metric runs MMDetection's ``eval_map`` once per
    threshold with ``eval_mode='11points'`` and the legacy (+1) box
    convention both tools use, and averages.

    Per threshold (as in both tools): a class's detections are sorted by
    score, each is a true positive if its best-overlapping ground truth
    (IoU >= threshold) is not difficult and not yet matched, ignored if that
    ground truth is difficult, and a false positive otherwise; the 11-point
    AP is ``mean over t in {0, 0.1, ..., 1} of max(precision[recall >= t])``
    (0 where the recall never reaches t); the class mean skips classes
    without ground truth.

    Args:
        iou_thrs (Sequence[float]): IoU thresholds. Defaults to
            :data:`DETECTRON2_VOC_IOUS`.
        eval_mode (str): ``'11points'`` (VOC07, detectron2) or ``'area'``.
            Defaults to ``'11points'``.
        nproc (int): Processes ``eval_map`` uses per threshold. Defaults to 4.
        **kwargs: Other :class:`mmdet.evaluation.VOCMetric` arguments
            (``collect_device``, ``prefix``).

    Results (``pascal_voc/`` prefix by default): ``AP``, ``AP50``, ``AP75``
    (when 0.5 / 0.75 are among the thresholds) and ``AP{t}`` for every other
    threshold ``t`` (e.g. ``AP55``), all in percent.
    """

    def __init__(self,
                 iou_thrs: Sequence[float] = DETECTRON2_VOC_IOUS,
                 eval_mode: str = '11points',
                 nproc: int = 4,
                 **kwargs) -> None:
        if isinstance(iou_thrs, float):
            iou_thrs = [iou_thrs]
        if not iou_thrs or not all(0 < t < 1 for t in iou_thrs):
            raise ValueError(f'VOCMultiIoUMetric: iou_thrs must be in (0, 1),'
                             f' got {iou_thrs}')
        if kwargs.get('metric', 'mAP') != 'mAP':
            raise ValueError('VOCMultiIoUMetric computes AP only; use '
                             "mmdet's VOCMetric for metric='recall'.")
        super().__init__(
            iou_thrs=[float(t) for t in iou_thrs],
            eval_mode=eval_mode,
            **kwargs)
        self.nproc = nproc

    def compute_metrics(self, results: list) -> dict:
        """Compute AP, AP50, AP75 and the per-threshold APs.

        Args:
            results (list): ``(annotation, detections)`` per image, from
                :meth:`VOCMetric.process`: the annotation holds ``bboxes``
                ``[G, 4]``, ``labels`` ``[G]`` and their ``*_ignore``
                (difficult) twins; the detections are one ``[D_c, 5]`` array
                (x1, y1, x2, y2, score) per class.

        Returns:
            dict: The metrics in percent.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        gts, preds = zip(*results)
        per_iou: List[float] = []
        for iou_thr in self.iou_thrs:
            mean_ap, _ = eval_map(
                preds,
                gts,
                iou_thr=iou_thr,
                dataset=self.dataset_meta['classes'],
                logger='silent',
                nproc=self.nproc,
                eval_mode=self.eval_mode,
                use_legacy_coordinate=True)
            per_iou.append(100.0 * mean_ap)
        metrics = OrderedDict(AP=float(np.mean(per_iou)))
        for iou_thr, ap in zip(self.iou_thrs, per_iou):
            metrics[f'AP{round(iou_thr * 100):02d}'] = ap
        logger.info('VOC AP (11-point, IoU ' + ', '.join(
            f'{t:.2f}: {ap:.2f}' for t, ap in zip(self.iou_thrs, per_iou)) +
                    f'); mean {metrics["AP"]:.2f}')
        return metrics
