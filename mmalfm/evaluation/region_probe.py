# Copyright (c) mmalfm contributors. All rights reserved.
"""The region probe: a fast, deterministic signal of the quality of the
region representation of a pretrained backbone (docs/user_guides/
region_probe.md).

The probe freezes the backbone (and the FPN, when there is one) of a detector
config, pools one feature vector per ground-truth box of the train and val
images, fits a linear classifier on the train boxes and reports the val
accuracy, the mean per-class accuracy and a cosine kNN accuracy; optionally
it also fits a linear box regressor from the features of jittered boxes back
to their ground truth (the refinement a box head learns).

Everything that shapes the features comes from the detector config and is
built by MMDetection: the detector with its ``init_cfg`` (the export is
loaded by :class:`~mmalfm.models.init.PretrainedExport`, as for fine-tuning),
its ``DetDataPreprocessor`` (mean / std), the test pipeline
(``LoadImageFromFile`` / ``Resize`` / ``LoadAnnotations`` /
``PackDetInputs``), the RoI extractor (``SingleRoIExtractor``: level of a box
``floor(log2(sqrt(wh) / 56 + 1e-6))`` clamped to the levels, RoIAlign 7x7) and
the box coder (``DeltaXYWHBBoxCoder``).

The features (``features``, ``pool``):

* ``'fpn'``: the RoIAlign 7x7 of the FPN level (P2-P5) that
  ``SingleRoIExtractor`` assigns -- exactly the ``(C, 7, 7)`` RoI feature the
  detector's box head receives.
* ``'backbone'``: the same on the backbone maps C2-C5 (strides 4-32) with the
  same level rule. The levels have different widths (16/32/64/128 for the
  demo r18q), so a box's vector is written into its level's slot of a zero
  vector spanning all levels (block layout): a linear probe on it is one
  linear classifier per level (with a shared bias), and no channel of one
  level is mixed with a channel of another.
* ``'auto'`` (default): ``'fpn'`` when the checkpoint holds ``neck.*`` keys
  (a pretrained FPN), else ``'backbone'`` -- a backbone-only export is not
  probed through a random FPN, which would measure that random projection
  too.
* ``pool='flatten'`` (default): the 7x7 bins flattened, ``C * 49`` values per
  box (channel-major), what a linear layer on the RoI feature sees;
  ``pool='avg'``: the mean over the 7x7 bins, ``C`` values. On the demo data
  (shape classes with random colours and textures) the averaged features of
  every initialisation measured were at chance level: the class is in the
  spatial layout inside the box, which the average removes
  (docs/user_guides/region_probe.md).

The probes (features standardised with the train mean / std; dimensions whose
train std is at most ``1e-6`` times the largest are constant and dropped):

* linear: closed-form ridge regression to one-hot targets in float64
  (:func:`ridge_fit`, ``torch.linalg.solve``), the prediction is the arg-max
  (first maximum on ties). Ridge-to-one-hot is the least-squares stand-in of
  the multinomial logistic regression of linear probing (e.g. Chen et al.,
  "A Simple Framework for Contrastive Learning of Visual Representations",
  ICML 2020), chosen because it is exactly deterministic.
* kNN: cosine similarity of the L2-normalised standardised features, ``k``
  nearest train boxes, majority vote (:func:`knn_classify`: ties of the
  similarity by train index, ties of the vote by the summed similarity, then
  the lowest class index), as the weighted kNN monitor of Wu et al.,
  "Unsupervised Feature Learning via Non-Parametric Instance
  Discrimination", CVPR 2018, without the weights.
* cross-validation (``folds``): both probes again, image-grouped K-fold
  over the train and val boxes together (:func:`cross_validate`), so every
  box is predicted once and two checkpoints can be compared box by box
  with a paired standard error (:func:`paired_difference`).
* box (``box_regression=True``): ``box_jitters`` jittered copies of each box
  (fixed seed per image id), their features at their own level, a ridge
  regression to the box coder's deltas back to the ground truth, and the mean
  IoU with the ground truth of the val boxes before and after refinement.

Determinism: the model is built and initialised under a forked, seeded torch
RNG, runs in eval mode (BN running statistics) under ``torch.no_grad`` one
image at a time (no batch padding) with ``torch.set_num_threads(num_threads)``
(1 by default), and the probes run in float64, so two runs on one machine
with the same thread count return equal dictionaries (the
``features_sha256`` fingerprint of the float32 features included).
"""
import contextlib
import copy
import hashlib
import io
import logging
import math
import os.path as osp
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmalfm.registry import EVALUATORS

__all__ = [
    'DEMO_DETECTOR', 'RegionProbeError', 'RegionSet', 'RegionFeatures',
    'RegionProbe', 'region_probe', 'standardize', 'ridge_fit',
    'ridge_predict', 'linear_probe', 'knn_classify', 'box_probe',
    'cross_validate', 'paired_difference',
    'classification_metrics', 'feature_fingerprint', 'jitter_boxes',
    'format_results'
]

#: The detector the demo fine-tunes (r18q-FPN Faster R-CNN, 4conv1fc).
DEMO_DETECTOR = ('configs/benchmarks/mmdetection/demo/'
                 'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')

#: Key prefixes of a detector (an export or a detector checkpoint).
_DETECTOR_PREFIXES = ('backbone.', 'neck.', 'rpn_head.', 'roi_head.')

#: Relative threshold below which a standardised dimension is constant.
_CONSTANT_STD = 1e-6


class RegionProbeError(ValueError):
    """The probe cannot run as asked (the message says what to change)."""


# --------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------
@dataclass
class RegionSet:
    """The region features of one split.

    Attributes:
        feats (Tensor): ``(N, D)`` float32, one vector per ground-truth box.
        labels (Tensor): ``(N, )`` int64 class indices.
        levels (Tensor): ``(N, )`` int64 RoI-extractor level of each box.
        img_ids (Tensor): ``(N, )`` int64 image id of each box.
        boxes (Tensor): ``(N, 4)`` float32 ground truth ``x1, y1, x2, y2``
            in the resized image.
        jitter_feats (Tensor): ``(N * J, D)`` float32 features of the
            jittered boxes (``J = box_jitters``; box ``i``'s copies are rows
            ``i * J .. i * J + J - 1``); ``(0, D)`` without box regression.
        jitter_boxes (Tensor): ``(N * J, 4)`` float32 jittered boxes.
        num_images (int): Images read (with or without boxes).
    """
    feats: Tensor
    labels: Tensor
    levels: Tensor
    img_ids: Tensor
    boxes: Tensor
    jitter_feats: Tensor
    jitter_boxes: Tensor
    num_images: int


@dataclass
class RegionFeatures:
    """What :meth:`RegionProbe.extract` returns.

    Attributes:
        train (RegionSet): Train split.
        val (RegionSet): Val split.
        classes (tuple[str]): Class names (index order).
        features (str): ``'fpn'`` or ``'backbone'``.
        level_names (list[str]): ``['P2', ...]`` or ``['C2', ...]``.
        init (str): ``'random'`` or the checkpoint path.
        init_kind (str): ``'random'``, ``'export'`` or ``'pretraining'``.
        loaded (dict): ``{part: tensors}`` loaded from the checkpoint.
        bbox_coder: The detector's box coder (``encode`` / ``decode``).
    """
    train: RegionSet
    val: RegionSet
    classes: Tuple[str, ...]
    features: str
    level_names: List[str]
    init: str
    init_kind: str
    loaded: Dict[str, int] = field(default_factory=dict)
    bbox_coder: object = None


@contextlib.contextmanager
def _num_threads(n: int) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside, the previous count after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _quiet_init_logs() -> Iterator[None]:
    """Only warnings from the current MMEngine logger inside (the per-tensor
    initialisation report of ``init_weights``); the level after."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def feature_fingerprint(*tensors: Tensor) -> str:
    """SHA-256 of the bytes of tensors (dtype, shape and values): equal
    fingerprints mean bit-identical features."""
    digest = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(f'{t.dtype}{tuple(t.shape)}'.encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def jitter_boxes(boxes: Tensor, img_shape: Tuple[int, int], img_id: int,
                 num: int, seed: int = 0, shift: float = 0.2,
                 scale: float = 1.3) -> Tensor:
    """Jittered copies of boxes, from a generator seeded by the image id.

    The centre moves by ``U(-shift, shift)`` times the width / height, the
    width / height are multiplied by ``exp(U(-log scale, log scale))``; the
    result is clipped to the image (at least 1 px wide and high).

    Args:
        boxes (Tensor): ``(N, 4)`` ``x1, y1, x2, y2``.
        img_shape (tuple[int, int]): ``(h, w)`` of the image.
        img_id (int): Seeds the generator with ``(seed, img_id)``, so an
            image's jitter does not depend on which other images are read.
        num (int): Copies per box ``J``.
        seed (int): Jitter seed.
        shift (float): Largest centre shift (fraction of the size).
        scale (float): Largest size factor.

    Returns:
        Tensor: ``(N * J, 4)`` float32, box ``i``'s copies at rows
        ``i * J .. i * J + J - 1``.
    """
    rng = np.random.default_rng([int(seed), int(img_id)])
    b = boxes.detach().cpu().double().numpy().repeat(num, axis=0)
    u = rng.uniform(-1.0, 1.0, size=(len(b), 4))
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx = (b[:, 0] + b[:, 2]) / 2 + u[:, 0] * shift * w
    cy = (b[:, 1] + b[:, 3]) / 2 + u[:, 1] * shift * h
    w = w * np.exp(u[:, 2] * math.log(scale))
    h = h * np.exp(u[:, 3] * math.log(scale))
    height, width = img_shape
    x1 = np.clip(cx - w / 2, 0, width - 1)
    y1 = np.clip(cy - h / 2, 0, height - 1)
    x2 = np.clip(cx + w / 2, x1 + 1, width)
    y2 = np.clip(cy + h / 2, y1 + 1, height)
    return torch.from_numpy(np.stack([x1, y1, x2, y2], 1)).float()


def _is_detector_state(state: Dict[str, Tensor], meta: dict) -> bool:
    """An export (or a detector checkpoint) rather than a pretraining
    checkpoint."""
    if isinstance(meta.get('mmalfm_export'), dict):
        return True
    return bool(state) and all(k.startswith(_DETECTOR_PREFIXES)
                               for k in state)


def _read_state(path: str) -> Tuple[Dict[str, Tensor], dict]:
    """``(state_dict, meta)`` of a checkpoint, read safely
    (``weights_only=True``); a ``module.`` prefix is stripped."""
    from mmalfm.apis.export import ExportError, read_checkpoint
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(
            f'checkpoint not found: {path} (write an export with python '
            'tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT OUT, or '
            'probe the random init)')
    try:
        return read_checkpoint(path)
    except ExportError as err:
        raise RegionProbeError(str(err)) from err


def _resolve_checkpoint(checkpoint: str, tmp_dir: str
                        ) -> Tuple[str, str, Dict[str, Tensor]]:
    """The export file to load (a pretraining checkpoint is exported first,
    as ``tools/model_converters/export_to_mmdet.py`` would: backbone, plus
    the FPN of a method that pretrains an mmdet FPN).

    Returns:
        tuple: ``(export_path, kind, state_dict)``; ``kind`` is ``'export'``
        (an export or a detector checkpoint) or ``'pretraining'``.
    """
    from mmalfm.apis.export import (ExportError, detect_method, export_mmdet,
                                    training_model_cfg)
    state, meta = _read_state(checkpoint)
    if _is_detector_state(state, meta):
        return checkpoint, 'export', state
    try:
        spec, _ = detect_method(state, meta, 'auto', checkpoint)
        with_neck = spec.neck == 'fpn' and any(
            k.startswith('neck.lateral_convs.') for k in state)
        result = export_mmdet(
            state, spec, with_neck=with_neck,
            model_cfg=training_model_cfg(meta), path=checkpoint)
    except ExportError as err:
        raise RegionProbeError(
            f'{checkpoint} is neither an export nor a pretraining checkpoint '
            f'the exporter knows: {err}') from err
    path = osp.join(tmp_dir, 'probe_export.pth')
    torch.save(dict(state_dict=result.state_dict, meta={}), path)
    return path, 'pretraining', result.state_dict


def _unwrap_dataset(cfg: dict) -> dict:
    """The innermost dataset config of wrappers (``RepeatDataset``...)."""
    while isinstance(cfg.get('dataset'), dict):
        cfg = cfg['dataset']
    return cfg


def _step_type(step: dict) -> str:
    """A pipeline step's type name without scope."""
    t = step.get('type', '')
    return (t if isinstance(t, str) else getattr(t, '__name__', '')
            ).split('.')[-1]


def _boxes_before_resize(pipeline: List[dict]) -> List[dict]:
    """The pipeline with ``LoadAnnotations`` right after the image loading.

    MMDetection's test pipelines load the annotations *after* ``Resize``
    (their boxes stay in original pixels for the evaluation); the probe needs
    them resized with the image, where the RoIs are pooled.
    """
    steps = [dict(s) for s in pipeline]
    loads = [s for s in steps if _step_type(s) == 'LoadAnnotations']
    ann = dict(loads[0]) if loads else dict(type='LoadAnnotations')
    ann.update(with_bbox=True, with_label=True)
    for key in ('with_mask', 'with_seg'):
        ann.pop(key, None)
    rest = [s for s in steps if _step_type(s) != 'LoadAnnotations']
    first = next((i for i, s in enumerate(rest)
                  if _step_type(s) == 'LoadImageFromFile'), -1)
    return rest[:first + 1] + [ann] + rest[first + 1:]


def _count_parts(keys: Sequence[str]) -> Dict[str, int]:
    counts: Dict[str, int] = OrderedDict()
    for key in keys:
        part = key.split('.', 1)[0]
        counts[part] = counts.get(part, 0) + 1
    return counts


# --------------------------------------------------------------------------
# Probes (float64, exactly deterministic)
# --------------------------------------------------------------------------
def standardize(train: Tensor, *others: Tensor,
                drop_constant: bool = False) -> Tuple[Tensor, ...]:
    """Standardise with the train mean / std (population std), in float64.

    Dimensions whose train std is at most ``1e-6`` times the largest are
    constant on the train set: they are set to 0 everywhere (or removed).

    Args:
        train (Tensor): ``(N, D)`` train features.
        *others (Tensor): ``(M_i, D)`` features standardised alike.
        drop_constant (bool): Remove the constant dimensions instead of
            zeroing them (``D' <= D`` columns; the same probes, cheaper).

    Returns:
        tuple[Tensor]: ``(train, *others)`` standardised, float64.
    """
    train = train.double()
    mean = train.mean(0)
    std = train.std(0, unbiased=False)
    top = float(std.max()) if std.numel() else 0.0
    keep = std > _CONSTANT_STD * top
    scale = torch.where(keep, std, torch.ones_like(std))

    def apply(x: Tensor) -> Tensor:
        if drop_constant:
            return (x.double()[:, keep] - mean[keep]) / scale[keep]
        return torch.where(keep, (x.double() - mean) / scale,
                           torch.zeros((), dtype=torch.float64))

    return (apply(train), ) + tuple(apply(x) for x in others)


def ridge_fit(x: Tensor, y: Tensor, ridge: float) -> Tensor:
    """Closed-form ridge regression with an unpenalised bias, float64.

    Minimises ``(1 / N) * ||x @ W + b - y||^2 + ridge * ||W||^2``. With the
    means ``m_x``, ``m_y`` and the centred ``X = x - m_x``, ``Y = y - m_y``
    the solution is ``b = m_y - m_x @ W`` and::

        W = (X^T X / N + ridge * I)^-1 X^T Y / N          (D <= N)
          = X^T (X X^T / N + ridge * I)^-1 Y / N          (D > N)

    (the same matrix; the smaller system is solved with
    ``torch.linalg.solve``).

    Args:
        x (Tensor): ``(N, D)`` inputs.
        y (Tensor): ``(N, T)`` targets (one-hot for classification).
        ridge (float): Penalty of the weights (> 0 when ``D >= N``).

    Returns:
        Tensor: ``(D + 1, T)`` float64: weights, last row the bias.

    Raises:
        RegionProbeError: No samples, or a singular system.
    """
    if x.shape[0] == 0:
        raise RegionProbeError('no training boxes to fit the probe on')
    x, y = x.double(), y.double()
    n, d = x.shape
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    try:
        if d <= n:
            lhs = xc.T @ xc / n
            lhs.diagonal().add_(float(ridge))
            w = torch.linalg.solve(lhs, xc.T @ yc / n)
        else:
            lhs = xc @ xc.T / n
            lhs.diagonal().add_(float(ridge))
            w = xc.T @ torch.linalg.solve(lhs, yc) / n
    except RuntimeError as err:  # torch.linalg.LinAlgError
        raise RegionProbeError(
            f'the ridge system is singular ({err}); use ridge > 0') from err
    return torch.cat([w, (my - mx @ w)[None]], 0)


def ridge_predict(x: Tensor, weights: Tensor) -> Tensor:
    """``[x, 1] @ weights``: ``(M, D)`` x ``(D + 1, T)`` -> ``(M, T)``,
    float64."""
    x = x.double()
    return x @ weights[:-1] + weights[-1]


def classification_metrics(pred: Tensor, labels: Tensor,
                           num_classes: int) -> Dict[str, object]:
    """Accuracy, mean per-class accuracy and per-class accuracy, in percent.

    Args:
        pred (Tensor): ``(M, )`` predicted classes.
        labels (Tensor): ``(M, )`` true classes.
        num_classes (int): Number of classes.

    Returns:
        dict: ``acc``; ``mean_class_acc`` (mean over the classes present in
        ``labels``); ``per_class_acc`` (list, ``None`` for absent classes).
    """
    pred, labels = pred.long(), labels.long()
    m = labels.numel()
    correct = int((pred == labels).sum())
    per_class: List[Optional[float]] = []
    for c in range(num_classes):
        mask = labels == c
        count = int(mask.sum())
        per_class.append(100.0 * int((pred[mask] == c).sum()) /
                         count if count else None)
    present = [a for a in per_class if a is not None]
    return dict(
        acc=100.0 * correct / m if m else float('nan'),
        mean_class_acc=float(np.mean(present)) if present else float('nan'),
        per_class_acc=per_class)


def linear_probe(train_x: Tensor, train_y: Tensor, val_x: Tensor,
                 num_classes: int, ridge: float) -> Tensor:
    """Ridge regression to one-hot targets, arg-max prediction.

    Args:
        train_x (Tensor): ``(N, D)`` train features (standardised).
        train_y (Tensor): ``(N, )`` int64 train classes.
        val_x (Tensor): ``(M, D)`` features to classify.
        num_classes (int): Number of classes ``K``.
        ridge (float): See :func:`ridge_fit`.

    Returns:
        Tensor: ``(M, )`` int64 predicted classes (the first maximum of the
        ``K`` scores on ties).
    """
    onehot = torch.nn.functional.one_hot(train_y.long(), num_classes)
    weights = ridge_fit(train_x, onehot, ridge)
    return ridge_predict(val_x, weights).argmax(1)


def knn_classify(train_x: Tensor, train_y: Tensor, query_x: Tensor, k: int,
                 num_classes: int) -> Tensor:
    """Cosine kNN majority vote with deterministic ties.

    Features are L2-normalised (float64); the ``k`` most similar train
    vectors are taken in order of decreasing similarity, equal similarities
    in order of train index. The class with the most votes wins; equal
    votes go to the larger summed similarity, then to the lowest class
    index.

    Args:
        train_x (Tensor): ``(N, D)`` train features.
        train_y (Tensor): ``(N, )`` int64 train classes.
        query_x (Tensor): ``(M, D)`` features to classify.
        k (int): Neighbours (at most ``N`` are used).
        num_classes (int): Number of classes ``K``.

    Returns:
        Tensor: ``(M, )`` int64 predicted classes.
    """
    if train_x.shape[0] == 0:
        raise RegionProbeError('no training boxes for the kNN probe')
    a = torch.nn.functional.normalize(train_x.double(), dim=1)
    q = torch.nn.functional.normalize(query_x.double(), dim=1)
    sim = (q @ a.T).numpy()
    labels = train_y.long().numpy()
    k = max(1, min(int(k), a.shape[0]))
    index = np.arange(a.shape[0])
    out = np.empty(q.shape[0], dtype=np.int64)
    for i, row in enumerate(sim):
        nearest = np.lexsort((index, -row))[:k]
        votes = np.bincount(labels[nearest], minlength=num_classes)
        sums = np.bincount(labels[nearest], weights=row[nearest],
                           minlength=num_classes)
        # Sort keys: votes, then summed similarity (descending), then class.
        order = np.lexsort((np.arange(num_classes), -sums, -votes))
        out[i] = order[0]
    return torch.from_numpy(out)


def cross_validate(feats: Tensor, labels: Tensor, groups: Tensor, folds: int,
                   num_classes: int, ridge: float, k: int
                   ) -> Tuple[Tensor, Tensor]:
    """Group K-fold predictions of the linear and the kNN probe.

    The groups (images) are sorted and dealt to the folds in turn (group
    ``i`` in sorted order goes to fold ``i % folds``), so all boxes of an
    image share a fold. Each fold's boxes are predicted by probes fitted on
    the other folds, standardisation included. With every box predicted
    once, the accuracy rests on all boxes instead of one val split
    (a smaller standard error), and two checkpoints can be compared box by
    box (:func:`paired_difference`).

    Args:
        feats (Tensor): ``(N, D)`` features.
        labels (Tensor): ``(N, )`` int64 classes.
        groups (Tensor): ``(N, )`` int64 group (image) of each box.
        folds (int): Number of folds ``>= 2``.
        num_classes (int): Number of classes.
        ridge (float): See :func:`ridge_fit`.
        k (int): kNN neighbours.

    Returns:
        tuple[Tensor, Tensor]: ``(N, )`` int64 linear and kNN predictions,
        in the input order.

    Raises:
        RegionProbeError: Fewer groups than folds.
    """
    uniq = torch.unique(groups)  # sorted
    if len(uniq) < folds:
        raise RegionProbeError(
            f'{len(uniq)} images for {folds} cross-validation folds: use '
            'fewer folds (or folds=0)')
    fold = (torch.arange(len(uniq)) % folds)[torch.searchsorted(uniq, groups)]
    linear = torch.empty_like(labels)
    knn = torch.empty_like(labels)
    for f in range(folds):
        test = fold == f
        tx, vx = standardize(feats[~test], feats[test], drop_constant=True)
        linear[test] = linear_probe(tx, labels[~test], vx, num_classes, ridge)
        knn[test] = knn_classify(tx, labels[~test], vx, k, num_classes)
    return linear, knn


def paired_difference(correct_a: str, correct_b: str) -> Tuple[float, float]:
    """Accuracy difference of two probes on the same boxes, with its SE.

    The paired standard error ``std(a_i - b_i) / sqrt(n)`` (population
    std) of the per-box correctness difference: boxes both probes get right
    (or wrong) add no noise, so it is much smaller than the unpaired
    ``sqrt(SE_a^2 + SE_b^2)`` when the two checkpoints agree on most boxes.

    Args:
        correct_a (str): ``'0'``/``'1'`` per box (the ``cv_linear_correct``
            or ``cv_knn_correct`` of a result).
        correct_b (str): The same boxes for the other checkpoint.

    Returns:
        tuple[float, float]: ``(mean(a - b), SE)`` in percentage points.

    Raises:
        RegionProbeError: The strings differ in length (other boxes).
    """
    if len(correct_a) != len(correct_b) or not correct_a:
        raise RegionProbeError(
            f'paired comparison needs the same boxes: {len(correct_a)} vs '
            f'{len(correct_b)} predictions (probe both with the same data, '
            'folds and max_images)')
    a = np.frombuffer(correct_a.encode(), np.uint8) - ord('0')
    b = np.frombuffer(correct_b.encode(), np.uint8) - ord('0')
    diff = a.astype(np.float64) - b
    return (100.0 * float(diff.mean()),
            100.0 * float(diff.std()) / math.sqrt(len(diff)))


def _correct_string(pred: Tensor, labels: Tensor) -> str:
    """``'1'`` where ``pred == labels``, else ``'0'``, one char per box."""
    return ''.join('1' if c else '0' for c in (pred == labels).tolist())


def box_probe(train: RegionSet, val: RegionSet, bbox_coder, ridge: float
              ) -> Dict[str, float]:
    """Linear box refinement: jittered-box features -> deltas to the GT.

    Fits :func:`ridge_fit` from the standardised train jittered-box
    features to ``bbox_coder.encode(jittered, gt)`` (class-agnostic, 4
    outputs), decodes the val predictions with ``bbox_coder.decode`` and
    compares the IoU with the ground truth before and after.

    Args:
        train (RegionSet): With ``jitter_feats`` ``(N * J, D)``.
        val (RegionSet): Same for val.
        bbox_coder: MMDetection box coder (``DeltaXYWHBBoxCoder``).
        ridge (float): See :func:`ridge_fit`.

    Returns:
        dict: ``box_iou_jittered`` and ``box_iou_refined``, mean IoU in
        ``[0, 1]`` over the val jittered boxes.
    """
    from mmdet.structures.bbox import bbox_overlaps
    reps = train.jitter_feats.shape[0] // max(train.feats.shape[0], 1)
    gt_train = train.boxes.repeat_interleave(reps, 0)
    gt_val = val.boxes.repeat_interleave(reps, 0)
    targets = bbox_coder.encode(train.jitter_boxes, gt_train)
    tx, vx = standardize(train.jitter_feats, val.jitter_feats,
                         drop_constant=True)
    weights = ridge_fit(tx, targets, ridge)
    deltas = ridge_predict(vx, weights).float()
    refined = bbox_coder.decode(val.jitter_boxes, deltas)
    before = bbox_overlaps(val.jitter_boxes, gt_val, is_aligned=True)
    after = bbox_overlaps(refined, gt_val, is_aligned=True)
    return dict(
        box_iou_jittered=float(before.double().mean()),
        box_iou_refined=float(after.double().mean()))


# --------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------
@EVALUATORS.register_module()
class RegionProbe:
    """Linear / kNN / box-regression probes on frozen region features.

    Not an MMEngine ``BaseMetric`` (a metric sees a model's predictions; the
    probe runs its own forward passes and fits its own classifier): build it
    from the ``mmalfm`` ``EVALUATORS`` registry or directly, then call it on
    checkpoints::

        probe = RegionProbe(data_root='data/demo')
        random_init = probe()                   # no checkpoint
        pretrained = probe('work_dirs/demo/export/alfm_mmdet.pth')

    Args:
        detector_config (str): MMDetection config of the detector whose
            backbone / FPN / RoI extractor / preprocessor / test pipeline
            define the features. Defaults to :data:`DEMO_DETECTOR` (relative
            paths are tried from the working directory, then the repo).
        data_root (str, optional): COCO root (with ``annotations/``) or a
            folder with ``coco/`` in it (what ``make_demo_data.py`` writes);
            defaults to the config's.
        train_ann_file (str, optional): Train annotations (relative to the
            COCO root); defaults to the config's train dataset's.
        val_ann_file (str, optional): Same for val.
        features (str): ``'auto'``, ``'fpn'`` or ``'backbone'`` (module
            docstring). Defaults to ``'auto'``.
        pool (str): ``'flatten'`` (``C * 49`` values per box) or ``'avg'``
            (mean over the 7x7 bins, ``C`` values). Defaults to
            ``'flatten'``.
        levels (str): ``'assigned'``: each box pooled at the level the RoI
            extractor assigns (what the box head sees); ``'all'``: pooled
            at every level, the vectors concatenated (deep features of
            small boxes too). Defaults to ``'assigned'``.
        folds (int): Image-grouped cross-validation over the train and val
            boxes together (``cv_*`` results; every box predicted once by
            a probe fitted without its image); 0 turns it off. Defaults
            to 5.
        image_scale (tuple[int, int], optional): ``(long, short)`` scale of
            the ``Resize`` of the test pipeline; defaults to the config's.
        max_images (int, optional): Read at most this many images per split
            (the first in the annotation file's order).
        k (int): kNN neighbours. Defaults to 20.
        ridge (float): Ridge penalty of the (standardised) linear and box
            probes. Defaults to 0.1.
        box_regression (bool): Run the box probe. Defaults to True.
        box_jitters (int): Jittered copies per box. Defaults to 2.
        jitter_seed (int): Jitter seed. Defaults to 0.
        init_seed (int): Seed of the detector's initialisation (the random
            baseline; parts the checkpoint lacks). Defaults to 0.
        num_threads (int): ``torch.set_num_threads`` while probing (results
            are bit-identical for a given thread count). Defaults to 1.
        cfg_options (dict, optional): Merged into the detector config.
    """

    def __init__(self,
                 detector_config: str = DEMO_DETECTOR,
                 data_root: Optional[str] = None,
                 train_ann_file: Optional[str] = None,
                 val_ann_file: Optional[str] = None,
                 features: str = 'auto',
                 pool: str = 'flatten',
                 levels: str = 'assigned',
                 folds: int = 5,
                 image_scale: Optional[Sequence[int]] = None,
                 max_images: Optional[int] = None,
                 k: int = 20,
                 ridge: float = 0.1,
                 box_regression: bool = True,
                 box_jitters: int = 2,
                 jitter_seed: int = 0,
                 init_seed: int = 0,
                 num_threads: int = 1,
                 cfg_options: Optional[dict] = None) -> None:
        if features not in ('auto', 'fpn', 'backbone'):
            raise RegionProbeError(
                f"features must be 'auto', 'fpn' or 'backbone', got "
                f'{features!r}')
        if pool not in ('flatten', 'avg'):
            raise RegionProbeError(
                f"pool must be 'flatten' or 'avg', got {pool!r}")
        if levels not in ('assigned', 'all'):
            raise RegionProbeError(
                f"levels must be 'assigned' or 'all', got {levels!r}")
        if folds == 1 or folds < 0:
            raise RegionProbeError(
                f'folds must be 0 (off) or at least 2, got {folds}')
        if k < 1 or ridge < 0 or box_jitters < 1 or num_threads < 1:
            raise RegionProbeError(
                'need k >= 1, ridge >= 0, box_jitters >= 1, num_threads >= 1')
        if max_images is not None and max_images < 1:
            raise RegionProbeError('max_images must be at least 1')
        self.detector_config = self._find_config(detector_config)
        self.data_root = data_root
        self.train_ann_file = train_ann_file
        self.val_ann_file = val_ann_file
        self.features = features
        self.pool = pool
        self.levels = levels
        self.folds = int(folds)
        self.image_scale = tuple(image_scale) if image_scale else None
        self.max_images = max_images
        self.k = int(k)
        self.ridge = float(ridge)
        self.box_regression = bool(box_regression)
        self.box_jitters = int(box_jitters)
        self.jitter_seed = int(jitter_seed)
        self.init_seed = int(init_seed)
        self.num_threads = int(num_threads)
        self.cfg_options = cfg_options
        #: Seconds of the last call: ``setup`` (data sets, model),
        #: ``features``, ``probe``.
        self.timing: Dict[str, float] = {}

    # ------------------------------------------------------------ set-up
    @staticmethod
    def _find_config(path: str) -> str:
        if osp.isfile(path):
            return path
        repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        if osp.isfile(osp.join(repo, path)):
            return osp.join(repo, path)
        raise FileNotFoundError(f'detector config not found: {path}')

    def _config(self):
        from mmengine.config import Config
        from mmengine.utils import import_modules_from_strings
        cfg = Config.fromfile(self.detector_config)
        if self.cfg_options:
            cfg.merge_from_dict(self.cfg_options)
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg['custom_imports'])
        model = cfg.get('model') or {}
        if not all(k in model for k in ('backbone', 'roi_head')) or \
                'bbox_roi_extractor' not in (model.get('roi_head') or {}):
            raise RegionProbeError(
                f'{self.detector_config} is no two-stage detector config '
                '(model.backbone / model.roi_head.bbox_roi_extractor): pass '
                'the detector to fine-tune (e.g. '
                f'{DEMO_DETECTOR}); a pretraining checkpoint goes in as the '
                'checkpoint.')
        return cfg

    def _coco_root(self, cfg) -> str:
        if self.data_root is None:
            ds = _unwrap_dataset(cfg.val_dataloader.dataset)
            return ds.get('data_root', '')
        root = self.data_root
        if osp.isdir(osp.join(root, 'coco', 'annotations')):
            root = osp.join(root, 'coco')
        return root.rstrip('/') + '/'

    def _build_datasets(self, cfg) -> Tuple[object, object, Tuple[str, ...]]:
        from mmdet.registry import DATASETS
        from mmengine.registry import DefaultScope
        pipeline = copy.deepcopy(
            _unwrap_dataset(cfg.val_dataloader.dataset).get('pipeline')
            or cfg.get('test_pipeline'))
        pipeline = _boxes_before_resize(pipeline)
        if self.image_scale is not None:
            for step in pipeline:
                if _step_type(step) == 'Resize':
                    step['scale'] = self.image_scale
        root = self._coco_root(cfg)
        out = []
        for split, ann in (('train', self.train_ann_file),
                           ('val', self.val_ann_file)):
            loader = cfg.get(f'{split}_dataloader')
            ds_cfg = copy.deepcopy(_unwrap_dataset(loader.dataset).to_dict())
            ds_cfg.update(data_root=root, pipeline=pipeline, test_mode=True)
            ds_cfg.pop('filter_cfg', None)
            if ann is not None:
                ds_cfg['ann_file'] = ann
            ann_path = osp.join(root, ds_cfg.get('ann_file', ''))
            if not osp.isfile(ann_path):
                raise FileNotFoundError(
                    f'{split} annotations not found: {ann_path}. Generate '
                    'the demo data with python tools/data/make_demo_data.py '
                    'DIR and pass --data-root DIR.')
            # (pycocotools prints its loading progress to stdout)
            with DefaultScope.overwrite_default_scope('mmdet'), \
                    contextlib.redirect_stdout(io.StringIO()):
                out.append(DATASETS.build(ds_cfg))
        classes = tuple(out[1].metainfo['classes'])
        return out[0], out[1], classes

    def _build_model(self, cfg, checkpoint: Optional[str], tmp_dir: str):
        """The detector, initialised as for fine-tuning, in eval mode."""
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        from mmengine.model import revert_sync_batchnorm
        from mmengine.registry import DefaultScope
        register_all_modules(init_default_scope=False)
        model_cfg = copy.deepcopy(cfg.model)
        # No download of an ImageNet backbone: random init is the baseline.
        model_cfg.backbone['init_cfg'] = None
        kind, state = 'random', {}
        if checkpoint is None:
            model_cfg['init_cfg'] = None
        else:
            path, kind, state = _resolve_checkpoint(checkpoint, tmp_dir)
            model_cfg['init_cfg'] = dict(
                type='mmalfm.PretrainedExport', checkpoint=path)
        with torch.random.fork_rng(devices=[]), _quiet_init_logs():
            torch.manual_seed(self.init_seed)
            with DefaultScope.overwrite_default_scope('mmdet'):
                model = MODELS.build(model_cfg)
                model.init_weights()
        model = revert_sync_batchnorm(model).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model, kind, state

    # ------------------------------------------------------------ features
    def extract(self, checkpoint: Optional[str] = None) -> RegionFeatures:
        """Region features of the train and val ground-truth boxes.

        Args:
            checkpoint (str, optional): An export
                (``tools/model_converters/export_to_mmdet.py``), a detector
                checkpoint or a pretraining checkpoint (exported in memory:
                backbone, plus the FPN of methods that pretrain one); None
                or ``'random'`` for the random-init baseline.

        Returns:
            RegionFeatures
        """
        if checkpoint in (None, '', 'random', 'none'):
            checkpoint = None
        cfg = self._config()
        with _num_threads(self.num_threads), torch.no_grad(), \
                tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            train_ds, val_ds, classes = self._build_datasets(cfg)
            model, kind, state = self._build_model(cfg, checkpoint, tmp)
            has_neck = any(k.startswith('neck.') for k in state)
            features = self.features
            if features == 'auto':
                features = 'fpn' if has_neck else 'backbone'
            if features == 'fpn' and not getattr(model, 'with_neck', False):
                raise RegionProbeError(
                    f'features=fpn: {self.detector_config} has no neck')
            t1 = time.perf_counter()
            extractor = model.roi_head.bbox_roi_extractor
            coder = getattr(model.roi_head.bbox_head, 'bbox_coder', None)
            if self.box_regression and coder is None:
                raise RegionProbeError('the detector\'s bbox head has no '
                                       'bbox_coder: use box_regression=False')
            sets = [
                self._extract_split(model, extractor, ds, features)
                for ds in (train_ds, val_ds)
            ]
            t2 = time.perf_counter()
        self.timing = dict(setup=t1 - t0, features=t2 - t1)
        strides = extractor.featmap_strides
        prefix = 'P' if features == 'fpn' else 'C'
        return RegionFeatures(
            train=sets[0],
            val=sets[1],
            classes=classes,
            features=features,
            level_names=[f'{prefix}{int(math.log2(s))}' for s in strides],
            init='random' if checkpoint is None else str(checkpoint),
            init_kind=kind,
            loaded=_count_parts(list(state)),
            bbox_coder=coder)

    def _pool(self, extractor, feats: Sequence[Tensor], boxes: Tensor,
              features: str) -> Tuple[Tensor, Tensor]:
        """RoIAlign 7x7 features of the boxes of one image, one vector each.

        Args:
            extractor: The detector's ``SingleRoIExtractor``.
            feats (Sequence[Tensor]): ``L`` maps ``(1, C_l, H_l, W_l)``.
            boxes (Tensor): ``(N, 4)`` boxes in input pixels.
            features (str): ``'fpn'`` (equal ``C_l``: the extractor itself)
                or ``'backbone'`` (block layout over the levels).

        Returns:
            tuple[Tensor, Tensor]: ``(N, D)`` features and ``(N, )``
            assigned levels. Per level ``D_l = C_l * 49`` (``C_l`` for
            ``pool='avg'``); ``D = C`` for ``'fpn'`` and the sum of the
            ``D_l`` for ``'backbone'`` (block layout) or ``levels='all'``
            (every level concatenated).
        """
        rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
        levels = extractor.map_roi_levels(rois, len(feats))

        def vector(roi_feats: Tensor) -> Tensor:  # (n, C, 7, 7) -> (n, D_l)
            if self.pool == 'avg':
                return roi_feats.mean((2, 3))
            return roi_feats.flatten(1)

        if self.levels == 'all':
            return torch.cat([
                vector(layer(feat, rois))
                for layer, feat in zip(extractor.roi_layers, feats)
            ], 1), levels
        if features == 'fpn':
            return vector(extractor(tuple(feats), rois)), levels
        bins = 1 if self.pool == 'avg' else int(np.prod(
            extractor.roi_layers[0].output_size))
        widths = [int(f.shape[1]) * bins for f in feats]
        offsets = np.cumsum([0] + widths)
        out = rois.new_zeros(len(rois), int(offsets[-1]))
        for lvl, feat in enumerate(feats):
            mask = levels == lvl
            if mask.any():
                pooled = extractor.roi_layers[lvl](feat, rois[mask])
                out[mask, offsets[lvl]:offsets[lvl + 1]] = vector(pooled)
        return out, levels

    def _extract_split(self, model, extractor, dataset, features: str
                       ) -> RegionSet:
        from mmdet.structures.bbox import get_box_tensor
        num = len(dataset)
        if self.max_images is not None:
            num = min(num, self.max_images)
        levels_in = len(extractor.featmap_strides)
        parts: Dict[str, List[Tensor]] = {
            k: []
            for k in ('feats', 'labels', 'levels', 'img_ids', 'boxes',
                      'jitter_feats', 'jitter_boxes')
        }
        for idx in range(num):
            item = dataset[idx]
            sample = item['data_samples']
            gt = sample.gt_instances
            if len(gt) == 0:
                continue
            data = model.data_preprocessor(
                dict(inputs=[item['inputs']], data_samples=[sample]), False)
            maps = model.backbone(data['inputs'])
            if features == 'fpn':
                maps = model.neck(maps)
            maps = tuple(maps)[:levels_in]
            if len(maps) < levels_in:
                raise RegionProbeError(
                    f'{len(maps)} feature maps for {levels_in} RoI levels: '
                    'the backbone needs out_indices=(0, 1, 2, 3)')
            boxes = get_box_tensor(gt.bboxes).float()
            vec, lvl = self._pool(extractor, maps, boxes, features)
            img_id = int(sample.metainfo.get('img_id', idx))
            parts['feats'].append(vec)
            parts['levels'].append(lvl)
            parts['labels'].append(gt.labels.long())
            parts['img_ids'].append(torch.full((len(boxes), ), img_id))
            parts['boxes'].append(boxes)
            if self.box_regression:
                jit = jitter_boxes(boxes, sample.metainfo['img_shape'],
                                   img_id, self.box_jitters,
                                   self.jitter_seed)
                parts['jitter_feats'].append(
                    self._pool(extractor, maps, jit, features)[0])
                parts['jitter_boxes'].append(jit)
        dim = None
        if parts['feats']:
            dim = parts['feats'][0].shape[1]
        else:
            raise RegionProbeError(
                f'no ground-truth boxes in the first {num} images of '
                f'{dataset.ann_file}')

        def cat(key: str, shape: Tuple[int, ...], dtype) -> Tensor:
            if parts[key]:
                return torch.cat(parts[key]).contiguous()
            return torch.zeros(shape, dtype=dtype)

        return RegionSet(
            feats=cat('feats', (0, dim), torch.float32),
            labels=cat('labels', (0, ), torch.long),
            levels=cat('levels', (0, ), torch.long),
            img_ids=cat('img_ids', (0, ), torch.long),
            boxes=cat('boxes', (0, 4), torch.float32),
            jitter_feats=cat('jitter_feats', (0, dim), torch.float32),
            jitter_boxes=cat('jitter_boxes', (0, 4), torch.float32),
            num_images=num)

    # ------------------------------------------------------------ probes
    def evaluate(self, regions: RegionFeatures) -> Dict[str, object]:
        """The probes on extracted features.

        Args:
            regions (RegionFeatures): From :meth:`extract` (or hand-built).

        Returns:
            dict: Plain Python values (JSON-ready), see :meth:`__call__`.
        """
        t0 = time.perf_counter()
        train, val = regions.train, regions.val
        num_classes = len(regions.classes)
        with _num_threads(self.num_threads):
            tx, vx = standardize(train.feats, val.feats, drop_constant=True)
            linear = classification_metrics(
                linear_probe(tx, train.labels, vx, num_classes, self.ridge),
                val.labels, num_classes)
            knn = classification_metrics(
                knn_classify(tx, train.labels, vx, self.k, num_classes),
                val.labels, num_classes)
            majority = int(
                torch.bincount(train.labels, minlength=num_classes).argmax())
            chance = classification_metrics(
                torch.full_like(val.labels, majority), val.labels,
                num_classes)
            cv = {}
            if self.folds:
                cv = self._cross_validate(train, val, num_classes)
            box = {}
            if self.box_regression and train.jitter_feats.shape[0]:
                box = box_probe(train, val, regions.bbox_coder, self.ridge)
        names = list(regions.classes)
        levels = len(regions.level_names)
        result = OrderedDict(
            init=regions.init,
            init_kind=regions.init_kind,
            loaded=dict(regions.loaded),
            features=regions.features,
            levels=list(regions.level_names),
            pool=self.pool,
            pooled_levels=self.levels,
            feature_dim=int(train.feats.shape[1]),
            classes=names,
            num_train_images=train.num_images,
            num_val_images=val.num_images,
            num_train_boxes=int(train.labels.numel()),
            num_val_boxes=int(val.labels.numel()),
            train_boxes_per_level=torch.bincount(
                train.levels, minlength=levels).tolist(),
            val_boxes_per_level=torch.bincount(
                val.levels, minlength=levels).tolist(),
            linear_acc=linear['acc'],
            linear_mean_class_acc=linear['mean_class_acc'],
            linear_per_class_acc=dict(zip(names, linear['per_class_acc'])),
            knn_acc=knn['acc'],
            knn_mean_class_acc=knn['mean_class_acc'],
            knn_k=min(self.k, int(train.labels.numel())),
            chance_acc=chance['acc'],
        )
        result.update(cv)
        result.update(box)
        result.update(
            box_jitters=self.box_jitters if box else 0,
            ridge=self.ridge,
            num_threads=self.num_threads,
            init_seed=self.init_seed,
            features_sha256=feature_fingerprint(
                train.feats, val.feats, train.jitter_feats, val.jitter_feats))
        self.timing['probe'] = time.perf_counter() - t0
        return dict(result)

    def _cross_validate(self, train: RegionSet, val: RegionSet,
                        num_classes: int) -> Dict[str, object]:
        """:func:`cross_validate` over the train and val boxes together
        (train first; an image is a group, val images after the train
        ones)."""
        train_images, train_groups = torch.unique(
            train.img_ids, return_inverse=True)
        groups = torch.cat([
            train_groups,
            torch.unique(val.img_ids, return_inverse=True)[1] +
            len(train_images)
        ])
        labels = torch.cat([train.labels, val.labels])
        linear, knn = cross_validate(
            torch.cat([train.feats, val.feats]), labels, groups, self.folds,
            num_classes, self.ridge, self.k)
        lin = classification_metrics(linear, labels, num_classes)
        nn_ = classification_metrics(knn, labels, num_classes)
        return OrderedDict(
            cv_folds=self.folds,
            cv_num_boxes=int(labels.numel()),
            cv_linear_acc=lin['acc'],
            cv_linear_mean_class_acc=lin['mean_class_acc'],
            cv_knn_acc=nn_['acc'],
            cv_knn_mean_class_acc=nn_['mean_class_acc'],
            cv_linear_correct=_correct_string(linear, labels),
            cv_knn_correct=_correct_string(knn, labels))

    def __call__(self, checkpoint: Optional[str] = None) -> Dict[str, object]:
        """Probe one checkpoint.

        Args:
            checkpoint (str, optional): See :meth:`extract`.

        Returns:
            dict: ``init``, ``init_kind``, ``loaded`` (tensors per part),
            ``features``, ``levels``, ``pool``, ``feature_dim``,
            ``classes``,
            ``num_{train,val}_{images,boxes}``,
            ``{train,val}_boxes_per_level``, ``linear_acc``,
            ``linear_mean_class_acc``, ``linear_per_class_acc``,
            ``knn_acc``, ``knn_mean_class_acc``, ``knn_k``, ``chance_acc``
            (the majority train class; accuracies in percent),
            ``pooled_levels``, with ``folds``: ``cv_folds``,
            ``cv_num_boxes``, ``cv_{linear,knn}_acc``,
            ``cv_{linear,knn}_mean_class_acc`` and
            ``cv_{linear,knn}_correct`` (``'0'``/``'1'`` per box, train
            boxes then val, for :func:`paired_difference`),
            ``box_iou_jittered``, ``box_iou_refined`` (in ``[0, 1]``, with
            box regression), ``box_jitters``, ``ridge``, ``num_threads``,
            ``init_seed``, ``features_sha256``. Two calls with the same
            arguments and thread count return equal dictionaries.
        """
        return self.evaluate(self.extract(checkpoint))


def region_probe(checkpoint: Optional[str] = None,
                 **kwargs) -> Dict[str, object]:
    """``RegionProbe(**kwargs)(checkpoint)``: probe one checkpoint.

    Args:
        checkpoint (str, optional): Export, detector or pretraining
            checkpoint; None for random init.
        **kwargs: :class:`RegionProbe` arguments.

    Returns:
        dict: See :meth:`RegionProbe.__call__`.
    """
    return RegionProbe(**kwargs)(checkpoint)


def format_results(result: Dict[str, object]) -> str:
    """A small text table of :meth:`RegionProbe.__call__`'s result."""
    lines = [
        f"region probe of {result['init']} ({result['init_kind']})",
        f"features: {result['features']} {'/'.join(result['levels'])} "
        f"({result.get('pooled_levels', 'assigned')} levels), "
        f"RoIAlign 7x7 {result['pool']} ({result['feature_dim']} values per "
        'box)',
        f"boxes: train {result['num_train_boxes']} "
        f"({result['num_train_images']} images), val "
        f"{result['num_val_boxes']} ({result['num_val_images']} images); "
        f"per level train {result['train_boxes_per_level']} val "
        f"{result['val_boxes_per_level']}",
        '',
        f"{'probe':<34}{'value':>10}",
        f"{'linear accuracy (%)':<34}{result['linear_acc']:>10.2f}",
        f"{'linear mean per-class acc. (%)':<34}"
        f"{result['linear_mean_class_acc']:>10.2f}",
        f"{'kNN accuracy (%, k=' + str(result['knn_k']) + ')':<34}"
        f"{result['knn_acc']:>10.2f}",
        f"{'chance: majority class (%)':<34}{result['chance_acc']:>10.2f}",
    ]
    if 'cv_linear_acc' in result:
        cv = f"{result['cv_folds']}-fold CV, {result['cv_num_boxes']} boxes"
        lines += [
            f"{'linear accuracy, ' + cv:<34}{result['cv_linear_acc']:>10.2f}",
            f"{'kNN accuracy, ' + cv:<34}{result['cv_knn_acc']:>10.2f}",
        ]
    if 'box_iou_refined' in result:
        lines += [
            f"{'box IoU, jittered':<34}{result['box_iou_jittered']:>10.4f}",
            f"{'box IoU, linearly refined':<34}"
            f"{result['box_iou_refined']:>10.4f}",
        ]
    per_class = ', '.join(
        f'{c} {"-" if a is None else format(a, ".1f")}'
        for c, a in result['linear_per_class_acc'].items())
    lines += ['', f'linear per-class accuracy (%): {per_class}',
              f"features sha256: {result['features_sha256'][:16]}"]
    return '\n'.join(lines)

