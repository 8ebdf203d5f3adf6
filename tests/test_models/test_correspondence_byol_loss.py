# Copyright (c) mmalfm contributors. All rights reserved.
import math

import pytest
import torch

from mmalfm.models.losses import CorrespondenceBYOLLoss
from mmalfm.registry import MODELS

R2 = math.sqrt(2) / 2


def _hand_example():
    """2 images x 4 slots of 2-d vectors with known cosines."""
    pred = torch.tensor([
        [[2., 0.], [0., 3.], [-1., 0.], [1., 1.]],  # 0, 90, 180, 45 deg
        [[0., 1.], [1., 0.], [3., 4.], [0., -7.]],
    ])
    target = torch.tensor([
        [[1., 0.], [0., -2.], [5., 5.], [-3., 0.]],  # 0, -90, 45, 180 deg
        [[1., 0.], [0., 1.], [-1., 0.], [4., 3.]],
    ])
    corr = torch.zeros(2, 4, 4, dtype=torch.bool)
    # image 0: cos(u0,v0)=1, cos(u0,v2)=sqrt2/2, cos(u1,v1)=-1, cos(u2,v3)=1
    for u, v in [(0, 0), (0, 2), (1, 1), (2, 3)]:
        corr[0, u, v] = True
    # image 1: cos(u0,v1)=1, cos(u2,v0)=3/5, cos(u2,v3)=24/25
    for u, v in [(0, 1), (2, 0), (2, 3)]:
        corr[1, u, v] = True
    img0 = -2 * (1 + R2 - 1 + 1) / (4 + 1e-6)
    img1 = -2 * (1 + 0.6 + 0.96) / (3 + 1e-6)
    return pred, target, corr, (img0, img1)


def test_registered():
    loss = MODELS.build(dict(type='CorrespondenceBYOLLoss', loss_weight=2.))
    assert isinstance(loss, CorrespondenceBYOLLoss)
    assert loss.loss_weight == 2.


def test_perfect_match_is_minus_two():
    # power-of-two friendly vectors: normalisation and cosines are exact.
    x = torch.tensor([[[1., 1., 1., 1.], [2., 0., 0., 0.], [0., 0., 4., 0.]]])
    corr = torch.eye(3, dtype=torch.bool)[None]
    loss = CorrespondenceBYOLLoss(eps=0.)(x, x.clone(), corr)
    assert loss.item() == -2.0
    # default eps: -2 k / (k + 1e-6), per image, whatever the magnitudes.
    torch.manual_seed(0)
    y = torch.randn(2, 16, 8) * 3
    corr = torch.eye(16, dtype=torch.bool).expand(2, 16, 16)
    loss = CorrespondenceBYOLLoss()(y, y, corr)
    torch.testing.assert_close(
        loss, torch.tensor(-2 * 16 / (16 + 1e-6)), rtol=1e-6, atol=0)


def test_hand_computed_partial_correspondence():
    pred, target, corr, (img0, img1) = _hand_example()
    loss = CorrespondenceBYOLLoss()(pred, target, corr)
    torch.testing.assert_close(
        loss, torch.tensor((img0 + img1) / 2), rtol=1e-6, atol=1e-7)
    # 0/1 float and long masks give the same value; loss_weight scales.
    for c in (corr.float(), corr.long()):
        torch.testing.assert_close(
            CorrespondenceBYOLLoss(loss_weight=0.5)(pred, target, c),
            torch.tensor((img0 + img1) / 4), rtol=1e-6, atol=1e-7)
    # the reverse direction (b -> a) uses the transposed matrix.
    rev = CorrespondenceBYOLLoss()(target, pred, corr.transpose(1, 2))
    torch.testing.assert_close(rev, loss)


def test_image_without_positives_contributes_zero():
    pred, target, corr, (img0, _) = _hand_example()
    corr[1] = False
    loss = CorrespondenceBYOLLoss()(pred, target, corr)
    # the mean still divides by N = 2 (released behaviour).
    torch.testing.assert_close(
        loss, torch.tensor(img0 / 2), rtol=1e-6, atol=1e-7)
    corr[:] = False
    assert CorrespondenceBYOLLoss()(pred, target, corr).item() == 0.0


def test_gradient_reaches_pred_only():
    pred, target, corr, _ = _hand_example()
    pred.requires_grad_(True)
    target.requires_grad_(True)
    loss = CorrespondenceBYOLLoss()(pred, target, corr)
    loss.backward()
    assert target.grad is None
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    # slot 3 of image 0 and slots 1, 3 of image 1 have no positive.
    assert pred.grad[0, 3].abs().sum() == 0
    assert pred.grad[1, [1, 3]].abs().sum() == 0
    # d/dq of -2/(2 k) * cos(q, z) at image 1 slot 0 (q=(0,1), z=(0,1)):
    # gradient of the cosine is (z - cos q) / |q| = 0 -> no push along q.
    torch.testing.assert_close(pred.grad[1, 0], torch.zeros(2), atol=1e-7,
                               rtol=0)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_inputs(dtype):
    torch.manual_seed(0)
    pred = torch.randn(2, 8, 16).to(dtype)
    target = torch.randn(2, 8, 16).to(dtype)
    corr = torch.rand(2, 8, 8) > 0.6
    loss = CorrespondenceBYOLLoss()(pred, target, corr)
    assert loss.dtype == torch.float32
    ref = CorrespondenceBYOLLoss()(pred.float(), target.float(), corr)
    torch.testing.assert_close(loss, ref, rtol=0, atol=0)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        amp = CorrespondenceBYOLLoss()(pred, target, corr)
    torch.testing.assert_close(amp, ref, rtol=0, atol=0)


def test_shape_checks():
    loss = CorrespondenceBYOLLoss()
    with pytest.raises(ValueError):
        loss(torch.zeros(2, 4, 8), torch.zeros(2, 5, 8),
             torch.zeros(2, 4, 4))
    with pytest.raises(ValueError):
        loss(torch.zeros(4, 8), torch.zeros(4, 8), torch.zeros(4, 4))
