# Copyright (c) mmalfm contributors. All rights reserved.
"""SoftLabelDistillationLoss: entropy identity, centre EMA, warm-up."""
import math

import pytest
import torch
from mmengine.logging import MessageHub

import mmalfm  # noqa: F401  (registries)
from mmalfm.models.losses import SoftLabelDistillationLoss
from mmalfm.registry import MODELS


def make(**kwargs) -> SoftLabelDistillationLoss:
    cfg = dict(type='SoftLabelDistillationLoss', out_dim=3)
    cfg.update(kwargs)
    loss = MODELS.build(cfg)
    loss.epoch = 100.  # after the warm-up: tau_t = teacher_temp
    return loss


def test_loss_equals_teacher_entropy_for_matching_student():
    loss = make(student_temp=0.1, teacher_temp=0.05)
    with torch.no_grad():
        loss.center.copy_(torch.tensor([[0.1, -0.2, 0.3]]))
    teacher = torch.tensor([[1.0, 0.2, -0.5], [0.0, 0.3, 0.1]])
    # s / tau_s = (t - c) / tau_t  ->  the student predicts p_t exactly.
    student = (teacher - loss.center) / 0.05 * 0.1
    p = loss.teacher_probs(teacher)
    entropy = -(p * p.log()).sum(dim=1).mean()
    assert loss(student, teacher).item() == pytest.approx(entropy.item(),
                                                          abs=1e-6)
    # Hand check of the first row's soft label: (t - c) / 0.05 =
    # (18, 8, -16); softmax = exp(0, -10, -34) / (1 + e^-10 + e^-34).
    z = 1 + math.exp(-10) + math.exp(-34)
    torch.testing.assert_close(
        p[0], torch.tensor([1 / z, math.exp(-10) / z,
                            math.exp(-34) / z]))
    # Any other student is worse (Gibbs' inequality).
    assert loss(student.flip(1), teacher) > loss(student, teacher)


def test_uniform_by_hand():
    # Equal teacher logits -> p_t = 1/3 each; student logits (0, 0, ln 2 *
    # tau_s) -> student probs (1/4, 1/4, 1/2): H = -(2 ln(1/4) + ln(1/2))/3.
    loss = make(student_temp=0.5)
    teacher = torch.zeros(1, 3)
    student = torch.tensor([[0., 0., math.log(2) * 0.5]])
    expected = -(2 * math.log(0.25) + math.log(0.5)) / 3
    assert loss(student, teacher).item() == pytest.approx(expected, abs=1e-6)
    assert make(student_temp=0.5, loss_weight=2.)(
        student, teacher).item() == pytest.approx(2 * expected, abs=1e-6)


def test_valid_mask_and_empty():
    loss = make()
    torch.manual_seed(0)
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3)
    valid = torch.tensor([True, False, True, False])
    expected = loss(student[valid], teacher[valid])
    assert loss(student, teacher, valid).item() == pytest.approx(
        expected.item(), abs=1e-6)
    none = loss(student, teacher, torch.zeros(4, dtype=torch.bool))
    assert none.item() == 0 and none.requires_grad
    none.backward()
    assert torch.equal(student.grad, torch.zeros(4, 3))


def test_teacher_gets_no_gradient():
    loss = make()
    student = torch.randn(5, 3, requires_grad=True)
    teacher = torch.randn(5, 3, requires_grad=True)
    out = loss(student, teacher)
    out.backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert not loss.teacher_probs(teacher).requires_grad


def test_center_moves_by_momentum():
    loss = make(center_momentum=0.9)
    assert torch.equal(loss.center, torch.zeros(1, 3))
    teacher = torch.tensor([[1., 2., 3.], [3., 4., 5.]])  # mean (2, 3, 4)
    loss.update_center(teacher)
    torch.testing.assert_close(loss.center, torch.tensor([[0.2, 0.3, 0.4]]))
    loss.update_center(teacher)  # 0.9 * 0.2 + 0.1 * 2 = 0.38, ...
    torch.testing.assert_close(loss.center,
                               torch.tensor([[0.38, 0.57, 0.76]]))
    loss.update_center(teacher[:0])  # no row: unchanged
    torch.testing.assert_close(loss.center,
                               torch.tensor([[0.38, 0.57, 0.76]]))
    # The centre is a buffer: saved and restored with the model.
    state = loss.state_dict()
    assert 'center' in state
    fresh = make(center_momentum=0.9)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.center, loss.center)


def test_center_update_is_not_in_graph():
    loss = make()
    teacher = torch.randn(4, 3, requires_grad=True)
    loss.update_center(teacher)
    assert not loss.center.requires_grad


@pytest.mark.parametrize('epoch,expected', [
    (0., 0.04),
    (15., 0.055),  # halfway: 0.04 + 0.5 * 0.03
    (29.999, 0.04 + 0.03 * 29.999 / 30),
    (30., 0.07),
    (400., 0.07),
])
def test_teacher_temp_warmup(epoch, expected):
    loss = SoftLabelDistillationLoss(out_dim=3)
    loss.epoch = epoch
    assert loss.teacher_temp == pytest.approx(expected, abs=1e-12)


def test_teacher_temp_without_warmup():
    loss = SoftLabelDistillationLoss(out_dim=3, warmup_teacher_temp_epochs=0)
    loss.epoch = 0.
    assert loss.teacher_temp == 0.07


def test_teacher_temp_from_message_hub():
    loss = SoftLabelDistillationLoss(out_dim=3, warmup_teacher_temp_epochs=10)
    hub = MessageHub.get_instance('test_distillation_temp')  # now current
    assert MessageHub.get_current_instance() is hub
    # 800 epochs of 50 iterations; 250 iterations done = epoch 5.
    hub.update_info('max_epochs', 800)
    hub.update_info('max_iters', 800 * 50)
    hub.update_info('iter', 250)
    assert loss.current_epoch() == 5
    assert loss.teacher_temp == pytest.approx(0.055, abs=1e-12)
    hub.update_info('iter', 500)
    assert loss.teacher_temp == pytest.approx(0.07, abs=1e-12)
    # An explicit epoch wins.
    loss.epoch = 0
    assert loss.teacher_temp == pytest.approx(0.04, abs=1e-12)


def test_teacher_temp_used_in_soft_labels():
    loss = SoftLabelDistillationLoss(out_dim=2)
    loss.epoch = 0.  # tau_t = 0.04
    p = loss.teacher_probs(torch.tensor([[0.04 * math.log(3), 0.]]))
    torch.testing.assert_close(p, torch.tensor([[0.75, 0.25]]))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_gives_fp32(dtype):
    loss = make()
    torch.manual_seed(0)
    student = torch.randn(4, 3)
    teacher = torch.randn(4, 3)
    ref = loss(student.to(dtype).float(), teacher.to(dtype).float())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(student.to(dtype), teacher.to(dtype))
        probs = loss.teacher_probs(teacher.to(dtype))
    assert out.dtype == probs.dtype == torch.float32
    assert out.item() == pytest.approx(ref.item(), rel=1e-6)
    loss.update_center(teacher.to(dtype))
    assert loss.center.dtype == torch.float32


def test_bad_input():
    loss = make()
    with pytest.raises(ValueError, match='out_dim = 3'):
        loss(torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match='same shape'):
        loss(torch.randn(2, 3), torch.randn(3, 3))
    with pytest.raises(ValueError, match='bool'):
        loss(torch.randn(2, 3), torch.randn(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match='warmup_teacher_temp_epochs'):
        SoftLabelDistillationLoss(out_dim=3, warmup_teacher_temp_epochs=-1)
    with pytest.raises(ValueError, match='student_temp'):
        SoftLabelDistillationLoss(out_dim=3, student_temp=0)
