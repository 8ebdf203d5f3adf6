# Copyright (c) mmalfm contributors. All rights reserved.
"""Numerical regression fixtures of SoCo (FPN), CrossCL, DUPR and ALFM.

Pinned per method in ``tests/data/regression/<method>.json`` (compared at
rel/abs 1e-6; a failure names every differing key): the model of
``tests/data/configs/<method>_tiny.py`` (seed 0; SyncBN -> BN as the runner
does in one process) on one fixed batch (the config's own
``train_pipeline``, seed 0, on 4 generated images, with proposals for SoCo
and ALFM) through ``train_step`` with backward only. Recorded: ``batch``
(a fingerprint of the pipeline output, to tell data from model changes),
``losses`` (every logged term), ``grad_norms`` (per top-level module),
``grad_norm_sum``, ``grad_norms_sorted`` (name-independent),
``state_norms`` / ``state_norm_sum`` (parameters and buffers after the
step: BN statistics, EMA target, queues, CDLP centre) and ``step2``
(losses and gradients after ``p -= 0.05 * grad``, at iteration 1: EMA
blend, queues and centre from step 1).

A refactor must pass unchanged; one that only renames top-level modules
changes just the keys of ``grad_norms`` / ``state_norms``, everything else
must still match. Modules that moved into ``heads`` are grouped under
their flat-layout names through the algorithm's own ``legacy`` declaration
(``LegacyLayout.old_key``), so the fixtures recorded before the heads
still compare every group. Re-record only when a change alters the maths on purpose,
and say so in the commit message::

    MMALFM_RECORD_FIXTURES=1 python -m pytest \\
        tests/test_models/test_regression_fixtures.py

The values depend on torch / mmcv / OpenCV too (``env`` in the JSON, not
compared): after an upgrade, re-record in a commit of its own.
"""
import copy
import json
import logging
import math
import os
import random
import warnings
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'tests' / 'data' / 'configs'
FIXTURES = REPO / 'tests' / 'data' / 'regression'
RECORD = os.environ.get('MMALFM_RECORD_FIXTURES') == '1'
METHODS = ('soco', 'crosscl', 'dupr', 'alfm')
SEED = 0
RTOL = ATOL = 1e-6
#: learning rate of the plain SGD update between the two steps
STEP2_LR = 0.05
#: (h, w) of the generated images (the tiny demo set's 64-96 px range)
IMAGE_SIZES = ((64, 80), (96, 72), (72, 96), (80, 64))


# ---------------------------------------------------------------- helpers
@contextmanager
def _isolated(seed: int):
    """One torch thread and one OpenCV thread, Python / NumPy / torch RNGs
    seeded with ``seed``; every setting and RNG state restored afterwards."""
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        _seed(seed)
        yield
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def _message_hub(max_iters: int):
    """MessageHub as the runner sets it before iteration 0 of an
    iteration-based loop; the previous values restored afterwards."""
    hub = MessageHub.get_current_instance()
    keys = ('iter', 'epoch', 'max_iters', 'max_epochs')
    old = {k: hub.get_info(k) for k in keys}
    hub.update_info('iter', 0)
    hub.update_info('epoch', 0)
    hub.update_info('max_iters', max_iters)
    hub.update_info('max_epochs', 1)  # IterBasedTrainLoop's
    try:
        yield hub
    finally:
        for k, v in old.items():
            hub.update_info(k, v)


def _image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A BGR uint8 image: a colour ramp, a few flat rectangles, noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-1.5, 1.5, (3, 2))
    img = base + yy[..., None] * slope[:, 0] + xx[..., None] * slope[:, 1]
    for _ in range(4):
        x1, y1 = rng.integers(0, w - 8), rng.integers(0, h - 8)
        x2, y2 = x1 + rng.integers(8, w // 2), y1 + rng.integers(8, h // 2)
        img[y1:y2, x1:x2] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 8, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _proposals(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """12 ``(x1, y1, x2, y2)`` float32 boxes of source pixels, clipped to
    the image, as ``ProposalDataset`` returns them: 10 of 8 px to 0.6 of
    the image side, 2 of 0.7-1 of it (so that SoCo assigns some boxes to
    the top FPN level too)."""
    xy = rng.uniform(0, [w - 8, h - 8], (10, 2))
    wh = rng.uniform(8, [w * 0.6, h * 0.6], (10, 2))
    big_wh = rng.uniform(0.7, 1., (2, 2)) * [w, h]
    big_xy = rng.uniform(0, 1, (2, 2)) * ([w, h] - big_wh)
    boxes = np.concatenate([
        np.concatenate([xy, xy + wh], 1),
        np.concatenate([big_xy, big_xy + big_wh], 1)
    ])
    return np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)


def make_batch(cfg: Config, img_dir: Path) -> dict:
    """The collated batch of the config's ``train_pipeline`` (loading
    included) on the generated images; proposals only for a
    ``ProposalDataset``. Call under :func:`_isolated`."""
    with_proposals = cfg.train_dataloader.dataset.type == 'ProposalDataset'
    with DefaultScope.overwrite_default_scope('mmalfm'):
        pipeline = Compose(copy.deepcopy(cfg.train_pipeline))
    rng = np.random.default_rng(SEED)
    items = []
    for i, (h, w) in enumerate(IMAGE_SIZES):
        path = img_dir / f'img{i}.png'
        assert cv2.imwrite(str(path), _image(rng, h, w))
        info = dict(img_path=str(path), sample_idx=i)
        if with_proposals:
            info['proposals'] = _proposals(rng, h, w)
        items.append(pipeline(info))
    return default_collate(items)


def build_model(cfg: Config):
    """The config's model as ``tools/train.py`` has it in one process
    before the first step. Call under :func:`_isolated`."""
    with DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(copy.deepcopy(cfg.model))
    model = revert_sync_batchnorm(model)
    # init_weights logs every parameter at INFO: keep failures readable
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    model.train()
    return model


class BackwardOnly:
    """An optimizer wrapper for ``train_step`` that only back-propagates."""

    @contextmanager
    def optim_context(self, model):
        yield

    def update_params(self, loss: torch.Tensor) -> None:
        loss.backward()


def _numeric_sum(obj) -> float:
    """Sum of every number in a nested dict/list/array (strings skipped)."""
    if isinstance(obj, dict):
        return sum(_numeric_sum(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_numeric_sum(v) for v in obj)
    if isinstance(obj, torch.Tensor):
        return float(obj.double().sum()) if obj.numel() else 0.
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in 'biuf':
            return float(obj.astype(np.float64).sum())
        return 0.
    if isinstance(obj, (bool, int, float, np.number)):
        return float(obj)
    return 0.


def batch_fingerprint(batch: dict) -> dict:
    out = {}
    for k, view in enumerate(batch['inputs']):
        out[f'view{k}_shape'] = list(view.shape)
        out[f'view{k}_sum'] = int(view.long().sum())
    for key in ('view_geometry', 'regions'):
        metas = [ds.metainfo.get(key) for ds in batch['data_samples']]
        if any(m is not None for m in metas):
            out[f'{key}_sum'] = _numeric_sum(metas)
    return out


def _norm(tensors) -> float:
    """L2 norm of the concatenation of ``tensors`` (float64)."""
    total = sum(float(t.detach().double().pow(2).sum()) for t in tensors)
    return math.sqrt(total)


def _grouped_norms(named, model=None) -> dict:
    """L2 norm per top-level name (``backbone.conv1.weight`` ->
    ``backbone``) of ``(name, tensor)`` pairs; a name that moved into
    ``heads`` counts under its flat-layout name (``model.legacy``)."""
    layout = getattr(model, 'legacy', None)
    groups = {}
    for name, t in named:
        if layout is not None:
            name = layout.old_key(name) or name
        groups.setdefault(name.split('.')[0], []).append(t)
    return {k: _norm(v) for k, v in groups.items()}


def train_step(model, batch: dict) -> dict:
    """One ``train_step`` (backward only): the logged terms and the
    gradient norms."""
    model.zero_grad(set_to_none=True)
    log_vars = model.train_step(copy.deepcopy(batch), BackwardOnly())
    grads = [(n, p.grad) for n, p in model.named_parameters()
             if p.grad is not None]
    return dict(
        losses={k: float(v.detach()) for k, v in log_vars.items()},
        grad_norms=_grouped_norms(grads, model),
        grad_norm_sum=sum(_norm([g]) for _, g in grads),
        grad_norms_sorted=sorted(_norm([g]) for _, g in grads))


def state_norms(model) -> dict:
    """Norms of the parameters and buffers (the state dict)."""
    state = [(k, v) for k, v in model.state_dict().items()
             if isinstance(v, torch.Tensor)]
    return dict(
        state_norms=_grouped_norms(state, model),
        state_norm_sum=sum(_norm([v]) for _, v in state))


@torch.no_grad()
def sgd_step(model, lr: float = STEP2_LR) -> None:
    """``p -= lr * grad``: a fixed update (not the config's optimizer),
    only to reach a second step whose EMA, queue and centre are not the
    initial ones."""
    for p in model.parameters():
        if p.grad is not None:
            p.add_(p.grad, alpha=-lr)


def run_method(method: str, img_dir: Path) -> dict:
    """The fixture's values of ``method`` (see the module docstring)."""
    cfg = Config.fromfile(str(CONFIGS / f'{method}_tiny.py'))
    with _isolated(SEED), _message_hub(cfg.train_cfg.max_iters) as hub:
        batch = make_batch(cfg, img_dir)
        _seed(SEED)
        model = build_model(cfg)
        _seed(SEED)
        out = dict(batch=batch_fingerprint(batch), **train_step(model, batch))
        out.update(state_norms(model))
        sgd_step(model)
        hub.update_info('iter', 1)
        out['step2'] = train_step(model, batch)
        return out


def _env() -> dict:
    import mmcv
    import mmdet
    import mmengine
    import mmpretrain
    return dict(
        torch=torch.__version__,
        mmcv=mmcv.__version__,
        mmengine=mmengine.__version__,
        mmpretrain=mmpretrain.__version__,
        mmdet=mmdet.__version__,
        opencv=cv2.__version__,
        numpy=np.__version__)


def _flatten(obj, prefix: str = '') -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f'{prefix}.{k}' if prefix else str(k)))
        return out
    if isinstance(obj, list):
        out = {f'{prefix}.len': len(obj)}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f'{prefix}[{i}]'))
        return out
    return {prefix: obj}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def differences(expected: dict, actual: dict) -> list:
    """``'key: expected ..., got ...'`` for every flattened key that is
    missing, extra or not within rel/abs 1e-6 (integers: not equal)."""
    want, got = _flatten(expected), _flatten(actual)
    out = []
    # the fixture's order (batch, losses, gradients, state), then extras
    for key in list(want) + [k for k in got if k not in want]:
        if key not in got:
            out.append(f'{key}: expected {want[key]!r}, missing')
        elif key not in want:
            out.append(f'{key}: not in the fixture, got {got[key]!r}')
        elif _is_int(want[key]) and _is_int(got[key]):
            if got[key] != want[key]:  # pixel sums, shapes: exact
                out.append(f'{key}: expected {want[key]!r}, got '
                           f'{got[key]!r}')
        elif got[key] != pytest.approx(want[key], rel=RTOL, abs=ATOL):
            out.append(f'{key}: expected {want[key]!r}, got {got[key]!r}')
    return out


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize('method', METHODS)
def test_regression_fixture(method, tmp_path):
    actual = run_method(method, tmp_path)
    path = FIXTURES / f'{method}.json'
    if RECORD:
        path.parent.mkdir(parents=True, exist_ok=True)
        record = dict(
            method=method,
            config=f'tests/data/configs/{method}_tiny.py',
            env=_env(),
            **actual)
        path.write_text(json.dumps(record, indent=1) + '\n')
        note = (f'MMALFM_RECORD_FIXTURES=1: wrote {path.relative_to(REPO)}'
                ' (not compared)')
        print('\n' + note)
        warnings.warn(note)
        return
    assert path.exists(), (
        f'{path.relative_to(REPO)} is missing; record it with '
        'MMALFM_RECORD_FIXTURES=1 (see the module docstring)')
    record = json.loads(path.read_text())
    expected = {
        k: v
        for k, v in record.items() if k not in ('method', 'config', 'env')
    }
    diffs = differences(expected, actual)
    if diffs:
        env = _env()
        hint = ''
        if record.get('env') != env:
            hint = (f'\nthe fixture was recorded with {record.get("env")}, '
                    f'this run has {env}')
        pytest.fail(f'{method}: {len(diffs)} value(s) differ from '
                    f'{path.relative_to(REPO)} (rel/abs {RTOL}):\n  ' +
                    '\n  '.join(diffs[:40]) +
                    ('\n  ...' if len(diffs) > 40 else '') + hint)


def test_differences_names_the_key():
    """The comparison names missing, extra and changed keys."""
    expected = dict(
        batch=dict(view0_sum=1500000),
        losses=dict(a=1.0, b=2.0),
        grad_norms_sorted=[1.0, 2.0])
    actual = dict(
        batch=dict(view0_sum=1500001),
        losses=dict(a=1.0 + 1e-8, c=2.0),
        grad_norms_sorted=[1.0, 2.1])
    assert differences(expected, actual) == [
        'batch.view0_sum: expected 1500000, got 1500001',
        'losses.b: expected 2.0, missing',
        'grad_norms_sorted[1]: expected 2.0, got 2.1',
        'losses.c: not in the fixture, got 2.0',
    ]
    assert differences(expected, copy.deepcopy(expected)) == []
