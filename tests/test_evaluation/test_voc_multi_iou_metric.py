# Copyright (c) mmalfm contributors. All rights reserved.
"""VOCMultiIoUMetric = detectron2's VOC AP, checked on a hand-computed
two-class example."""
import numpy as np
import pytest
import torch

from mmalfm.evaluation import DETECTRON2_VOC_IOUS, VOCMultiIoUMetric


def _sample(gt_boxes, gt_labels, ignore_boxes, ignore_labels, det_boxes,
            det_scores, det_labels) -> dict:
    """A data sample as VOCMetric.process reads it (legacy x1,y1,x2,y2)."""
    return dict(
        gt_instances=dict(
            bboxes=torch.tensor(gt_boxes, dtype=torch.float32).view(-1, 4),
            labels=torch.tensor(gt_labels, dtype=torch.long)),
        ignored_instances=dict(
            bboxes=torch.tensor(ignore_boxes,
                                dtype=torch.float32).view(-1, 4),
            labels=torch.tensor(ignore_labels, dtype=torch.long)),
        pred_instances=dict(
            bboxes=torch.tensor(det_boxes, dtype=torch.float32).view(-1, 4),
            scores=torch.tensor(det_scores, dtype=torch.float32),
            labels=torch.tensor(det_labels, dtype=torch.long)))


CAT, DOG = 0, 1
# Image A: a cat and a dog.
IMAGE_A = _sample(
    gt_boxes=[[0, 0, 9, 9], [20, 20, 29, 29]],
    gt_labels=[CAT, DOG],
    ignore_boxes=[],
    ignore_labels=[],
    det_boxes=[[0, 0, 9, 9], [50, 50, 59, 59], [20, 20, 29, 29]],
    det_scores=[0.9, 0.85, 0.6],
    det_labels=[CAT, CAT, DOG])
# Image B: a cat and a difficult (ignored) dog.
IMAGE_B = _sample(
    gt_boxes=[[0, 0, 9, 9]],
    gt_labels=[CAT],
    ignore_boxes=[[40, 40, 49, 49]],
    ignore_labels=[DOG],
    det_boxes=[[0, 0, 9, 7.2], [20, 20, 29, 29], [40, 40, 49, 49]],
    det_scores=[0.8, 0.7, 0.65],
    det_labels=[CAT, DOG, DOG])

# Hand computation (legacy areas, +1; VOC07 11-point AP).
# cat, 2 ground truths; detections by score: 0.9 (A, IoU 1), 0.85 (A, no
#   overlap: FP), 0.8 (B, IoU 10 * 8.2 / 100 = 0.82).
#   IoU thr <= 0.80: TP FP TP -> recall .5 .5 1, precision 1 .5 2/3;
#     points r = 0 .. 0.5 (6): max prec = 1; r = 0.6 .. 1 (5): 2/3
#     AP = (6 * 1 + 5 * 2/3) / 11 = 28/33
#   IoU thr >= 0.85: TP FP FP -> recall .5 .5 .5, precision 1 .5 1/3;
#     r = 0 .. 0.5: 1, r >= 0.6: 0 -> AP = 6/11
# dog, 1 ground truth (the difficult one does not count); detections: 0.7
#   (B, nothing there: FP), 0.65 (B, on the difficult dog: ignored, neither
#   TP nor FP), 0.6 (A, IoU 1: TP) -> recall 0 1, precision 0 .5;
#   every point: .5 -> AP = 1/2 at every threshold
# class mean: thr 0.50 .. 0.80 (7 thresholds): (28/33 + 1/2) / 2 = 89/132
#             thr 0.85 .. 0.95 (3 thresholds): (6/11 + 1/2) / 2 = 23/44
# AP = (7 * 89/132 + 3 * 23/44) / 10 = 83/132
EXPECTED_LOW = 100 * 89 / 132  # 67.4242...
EXPECTED_HIGH = 100 * 23 / 44  # 52.2727...
EXPECTED_AP = 100 * 83 / 132  # 62.8788...


def _evaluate(**kwargs) -> dict:
    metric = VOCMultiIoUMetric(nproc=1, **kwargs)
    metric.dataset_meta = dict(classes=('cat', 'dog'))
    metric.process({}, [IMAGE_A, IMAGE_B])
    return metric.evaluate(2)


def test_detectron2_thresholds():
    assert DETECTRON2_VOC_IOUS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8,
                                   0.85, 0.9, 0.95)


def test_voc_ap_matches_the_hand_computed_example():
    results = _evaluate()
    assert results['pascal_voc/AP'] == pytest.approx(EXPECTED_AP, abs=1e-4)
    assert results['pascal_voc/AP50'] == pytest.approx(
        EXPECTED_LOW, abs=1e-4)
    assert results['pascal_voc/AP75'] == pytest.approx(
        EXPECTED_LOW, abs=1e-4)
    for thr in (85, 90, 95):
        assert results[f'pascal_voc/AP{thr}'] == pytest.approx(
            EXPECTED_HIGH, abs=1e-4)
    per_iou = [results[f'pascal_voc/AP{round(t * 100)}']
               for t in DETECTRON2_VOC_IOUS]
    assert np.mean(per_iou) == pytest.approx(results['pascal_voc/AP'])


def test_area_mode_differs_from_11_points():
    # cat at IoU 0.5, area under the envelope: 0.5 * 1 + 0.5 * 2/3 = 5/6;
    # dog: 1 * 0.5; mean (5/6 + 1/2) / 2 = 2/3.
    results = _evaluate(iou_thrs=[0.5], eval_mode='area')
    assert results['pascal_voc/AP'] == pytest.approx(100 * 2 / 3, abs=1e-4)
    assert set(results) == {'pascal_voc/AP', 'pascal_voc/AP50'}


@pytest.mark.parametrize('bad', [[], [0.0], [1.2]])
def test_bad_thresholds_are_refused(bad):
    with pytest.raises(ValueError, match='iou_thrs'):
        VOCMultiIoUMetric(iou_thrs=bad)


def test_registered_for_mmdet_configs():
    from mmdet.registry import METRICS
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(dict(type='mmalfm.VOCMultiIoUMetric'))
    assert isinstance(metric, VOCMultiIoUMetric)
