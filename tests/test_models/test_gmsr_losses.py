# Copyright (c) mmalfm contributors. All rights reserved.
"""GMSR losses: coding rate, MEC, VICReg (hand-computed values)."""
import math
import os

import pytest
import torch
import torch.multiprocessing as mp
from torch import Tensor

import mmalfm  # noqa: F401  (registries)
from mmalfm.engine.hooks.representation_health import embedding_stats
from mmalfm.models.losses import (CodingRateLoss, MECLoss, VICRegLoss,
                                  coding_rate, gather_with_grad)
from mmalfm.registry import MODELS


def naive_rate(z: Tensor, eps2: float) -> Tensor:
    """The d x d definition with torch.logdet (reference)."""
    b, d = z.shape
    return 0.5 * torch.logdet(
        torch.eye(d, dtype=z.dtype) + d / (b * eps2) * z.t() @ z)


# --------------------------------------------------------------------------
# coding_rate
# --------------------------------------------------------------------------
Z3x2 = torch.tensor([[1., 0.], [0., 1.], [1., 1.]])


@pytest.mark.parametrize('form', ['auto', 'gram', 'cov'])
def test_coding_rate_3x2_by_hand(form):
    # B = 3, d = 2, eps2 = 2/3  ->  d / (B eps2) = 1.
    # Z^T Z = [[2, 1], [1, 2]];  I + Z^T Z = [[3, 1], [1, 3]], det = 9 - 1 = 8
    # (and I_3 + Z Z^T = [[2, 0, 1], [0, 2, 1], [1, 1, 3]],
    #  det = 2 * (6 - 1) - 0 + 1 * (0 - 2) = 8: Sylvester).
    # R = 0.5 * ln 8.
    assert coding_rate(Z3x2, 2 / 3, form=form).item() == pytest.approx(
        0.5 * math.log(8), abs=1e-6)
    # Default eps2 = 0.05: d / (B eps2) = 40/3;
    # I + 40/3 Z^T Z = [[83/3, 40/3], [40/3, 83/3]],
    # det = (83^2 - 40^2) / 9 = (6889 - 1600) / 9 = 5289 / 9.
    assert coding_rate(Z3x2, form=form).item() == pytest.approx(
        0.5 * math.log(5289 / 9), abs=1e-5)


def test_whitened_beats_collapsed():
    eps2 = 0.05  # d / (B eps2) = 20 for B = d = 4
    whitened = torch.eye(4)  # Z^T Z = I: det (1 + 20)^4
    collapsed = torch.tensor([[1., 0., 0., 0.]]).repeat(4, 1)
    # Z^T Z = 4 e1 e1^T: det = 1 + 20 * 4 = 81.
    r_white = coding_rate(whitened, eps2)
    r_coll = coding_rate(collapsed, eps2)
    assert r_white.item() == pytest.approx(2 * math.log(21), abs=1e-5)
    assert r_coll.item() == pytest.approx(0.5 * math.log(81), abs=1e-5)
    assert r_white > r_coll


@pytest.mark.parametrize('shape', [(5, 12), (12, 5), (7, 7)])
def test_gram_and_cov_forms_agree(shape):
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(shape), dim=1)
    gram = coding_rate(z, 0.05, form='gram')
    cov = coding_rate(z, 0.05, form='cov')
    assert gram.dtype == cov.dtype == torch.float32
    assert (gram - cov).abs().item() < 1e-5
    z64 = z.double()
    assert coding_rate(z64, form='gram').item() == pytest.approx(
        coding_rate(z64, form='cov').item(), abs=1e-10)
    assert coding_rate(z64).item() == pytest.approx(
        naive_rate(z64, 0.05).item(), abs=1e-10)


@pytest.mark.parametrize('shape', [(4, 9), (9, 4)])
def test_coding_rate_gradient(shape):
    torch.manual_seed(1)
    eps2 = 0.2
    z = torch.randn(shape, dtype=torch.float64)
    z_auto = z.clone().requires_grad_()
    z_naive = z.clone().requires_grad_()
    coding_rate(z_auto, eps2).backward()  # Gram form for B < d
    naive_rate(z_naive, eps2).backward()
    torch.testing.assert_close(z_auto.grad, z_naive.grad, rtol=1e-9,
                               atol=1e-10)
    # Closed form: dR/dZ = c Z (I + c Z^T Z)^-1, c = d / (B eps2).
    b, d = shape
    c = d / (b * eps2)
    expected = c * z @ torch.linalg.inv(torch.eye(d, dtype=z.dtype) +
                                        c * z.t() @ z)
    torch.testing.assert_close(z_auto.grad, expected, rtol=1e-9, atol=1e-10)


def test_coding_rate_bad_input():
    with pytest.raises(ValueError, match=r'\[B, d\]'):
        coding_rate(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match='eps2'):
        coding_rate(torch.ones(2, 3), eps2=0)
    # Non-finite input: NaN (the algorithm's finiteness check reports it).
    z = torch.ones(3, 2)
    z[0, 0] = float('nan')
    assert torch.isnan(coding_rate(z))


# --------------------------------------------------------------------------
# CodingRateLoss
# --------------------------------------------------------------------------
def test_coding_rate_loss_by_hand():
    # Normalised rows: z1 = (.6, .8), (1, 0), (0, 1); z2 = (1, 0), (0, 1),
    # (0, 1). Cosines .6, 0, 1 -> align = (0.8 + 2 + 0) / 3.
    z1 = torch.tensor([[3., 4.], [2., 0.], [0., 0.5]])
    z2 = torch.tensor([[1., 0.], [0., 1.], [0., 5.]])
    # eps2 = 2/3 -> d / (B eps2) = 1.
    # Z1^T Z1 = [[1.36, .48], [.48, 1.64]] -> det [[2.36, .48], [.48, 2.64]]
    #   = 6.2304 - 0.2304 = 6;  Z2^T Z2 = [[1, 0], [0, 2]] -> det 2 * 3 = 6.
    # entropy = -beta * 0.5 * (0.5 ln 6 + 0.5 ln 6) / d = -2 * 0.25 ln 6.
    loss = CodingRateLoss(eps2=2 / 3, beta=2.0, align_weight=3.0)
    out = loss(z1, z2)
    assert set(out) == {'align', 'entropy'}
    assert out['align'].item() == pytest.approx(2.8, abs=1e-6)
    assert out['entropy'].item() == pytest.approx(-0.5 * math.log(6),
                                                  abs=1e-6)


def test_coding_rate_loss_prefers_spread_embeddings():
    loss = CodingRateLoss()
    spread = torch.eye(8)
    collapsed = torch.ones(8, 8)
    assert loss(spread, spread)['entropy'] < loss(collapsed,
                                                  collapsed)['entropy']
    # Both aligned perfectly.
    assert loss(spread, spread)['align'].item() == pytest.approx(0, abs=1e-6)


# --------------------------------------------------------------------------
# MECLoss
# --------------------------------------------------------------------------
MEC_Z1 = torch.tensor([[1., 0.], [0., 1.]])
MEC_Z2 = torch.tensor([[2., 0.], [0.6, 0.8]])


@pytest.mark.parametrize('order,expected', [
    # B = d = 2, eps2 = 4 -> lam = d / (B eps2) = 1/4.
    # Z1 Z2^T = [[1, .6], [0, .8]]; C = [[.25, .15], [0, .2]] (triangular):
    # Tr C^k = .25^k + .2^k.  mec = -series / (B lam) = -2 * series.
    (1, -0.9),  # -2 * 0.45 = -mean cosine -(1 + .8) / 2
    (2, -2 * (0.45 - (0.0625 + 0.04) / 2)),  # -0.7975
    (4, -2 * (0.45 - 0.05125 + 0.023625 / 3 - 0.00550625 / 4)),
])
def test_mec_by_hand(order, expected):
    out = MECLoss(eps2=4.0, order=order)(MEC_Z1, MEC_Z2)
    assert set(out) == {'mec'}
    assert out['mec'].item() == pytest.approx(expected, abs=1e-6)


def test_mec_series_converges_to_logdet():
    # logdet(I + C) = ln(1.25 * 1.2) = ln 1.5.
    z2 = torch.tensor([[2., 0.], [0.6, 0.8]], dtype=torch.float64)
    out = MECLoss(eps2=4.0, order=40, loss_weight=3.0)(MEC_Z1.double(), z2)
    assert out['mec'].dtype == torch.float64
    assert out['mec'].item() == pytest.approx(-3 * 2 * math.log(1.5),
                                              abs=1e-12)


@pytest.mark.parametrize('shape', [(6, 4), (4, 6)])
def test_mec_forms_and_default_eps2(shape):
    torch.manual_seed(2)
    z1, z2 = torch.randn(shape, dtype=torch.float64), torch.randn(
        shape, dtype=torch.float64)
    b, d = shape
    eps2 = d / 32  # the default
    lam = d / (b * eps2)
    n1 = torch.nn.functional.normalize(z1, dim=1)
    n2 = torch.nn.functional.normalize(z2, dim=1)
    c = lam * n1 @ n2.t()  # always the B x B form here
    series = sum((-1)**(k + 1) / k * torch.trace(torch.matrix_power(c, k))
                 for k in range(1, 5))
    expected = -series / (b * lam)
    assert MECLoss()(z1, z2)['mec'].item() == pytest.approx(expected.item(),
                                                            abs=1e-10)


def test_mec_bad_args():
    with pytest.raises(ValueError, match='order'):
        MECLoss(order=0)
    with pytest.raises(ValueError, match='eps2'):
        MECLoss(eps2=-1.)


# --------------------------------------------------------------------------
# VICRegLoss
# --------------------------------------------------------------------------
def test_vicreg_by_hand():
    z1 = torch.tensor([[1., 0.], [-1., 2.]])
    z2 = torch.tensor([[1., 1.], [-1., 1.]])
    out = VICRegLoss()(z1, z2)
    assert set(out) == {'invariance', 'variance', 'covariance'}
    # z1 - z2 = [[0, -1], [0, 1]]: MSE = 2 / 4 -> 25 * 0.5.
    assert out['invariance'].item() == pytest.approx(12.5, abs=1e-6)
    # z1 centred [[1, -1], [-1, 1]]: cov = [[2, -2], [-2, 2]] (n - 1 = 1),
    #   hinge 0 (std > 1), off-diagonal 2 * (-2)^2 / d = 4.
    # z2 centred [[1, 0], [-1, 0]]: cov = [[2, 0], [0, 0]],
    #   hinge mean(0, 1 - sqrt(1e-4)) = 0.495, off-diagonal 0.
    assert out['variance'].item() == pytest.approx(25 * 0.495, abs=1e-5)
    assert out['covariance'].item() == pytest.approx(4.0, abs=1e-5)
    weighted = VICRegLoss(sim_weight=1, var_weight=2, cov_weight=3)(z1, z2)
    assert weighted['invariance'].item() == pytest.approx(0.5, abs=1e-6)
    assert weighted['variance'].item() == pytest.approx(0.99, abs=1e-6)
    assert weighted['covariance'].item() == pytest.approx(12, abs=1e-5)


# --------------------------------------------------------------------------
# Shared behaviour
# --------------------------------------------------------------------------
ALL = [
    dict(type='CodingRateLoss'),
    dict(type='MECLoss'),
    dict(type='VICRegLoss')
]


@pytest.mark.parametrize('cfg', ALL)
def test_batch_of_one_is_an_error(cfg):
    loss = MODELS.build(cfg)
    with pytest.raises(ValueError) as err:
        loss(torch.randn(1, 4), torch.randn(1, 4))
    msg = str(err.value)
    assert 'gather across ranks (gather=True)' in msg
    assert 'raise the per-rank batch' in msg
    assert cfg['type'] in msg


@pytest.mark.parametrize('cfg', ALL)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_inputs_give_fp32(cfg, dtype):
    torch.manual_seed(3)
    z1 = torch.randn(6, 8)
    z2 = torch.randn(6, 8)
    loss = MODELS.build(cfg)
    ref = loss(z1.to(dtype).float(), z2.to(dtype).float())
    low1 = z1.to(dtype).requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(low1, z2.to(dtype))
    for key, value in out.items():
        assert value.dtype == torch.float32, key
        assert torch.isfinite(value)
        assert value.item() == pytest.approx(ref[key].item(), rel=1e-5,
                                             abs=1e-5)
    sum(out.values()).backward()
    assert low1.grad.dtype == dtype and torch.isfinite(low1.grad).all()


@pytest.mark.parametrize('cfg', ALL)
def test_shape_errors(cfg):
    loss = MODELS.build(cfg)
    with pytest.raises(ValueError, match='same shape'):
        loss(torch.randn(4, 3), torch.randn(4, 2))


def test_gather_with_grad_single_process():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x


def _gather_worker(rank: int, world: int, store: str, result: str) -> None:
    import torch.distributed as dist

    # A forked child must not enter the OpenMP pool it inherited from the
    # parent (libgomp is not fork-safe: the first matmul would hang).
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=world)
    try:
        torch.manual_seed(0)
        full1 = torch.randn(2 * world, 5, dtype=torch.float64)
        full2 = torch.randn(2 * world, 5, dtype=torch.float64)
        local1 = full1[2 * rank:2 * rank + 2].clone().requires_grad_()
        local2 = full2[2 * rank:2 * rank + 2].clone().requires_grad_()
        gathered = gather_with_grad(local1)
        loss = CodingRateLoss()(local1, local2)
        loss['entropy'].backward()
        torch.save(
            dict(gathered=gathered.detach(),
                 entropy=loss['entropy'].detach(),
                 grad=local1.grad), f'{result}.{rank}')
    finally:
        dist.destroy_process_group()


def test_gather_with_grad_two_ranks(tmp_path):
    """gloo, 2 processes: the entropy uses all rows and the local slice gets
    world_size x the gradient of the full-batch entropy (DDP then averages
    over ranks)."""
    world = 2
    result = str(tmp_path / 'out')
    # fork, not spawn: the children need not re-import mmalfm (seconds).
    mp.start_processes(_gather_worker,
                       args=(world, str(tmp_path / 'store'), result),
                       nprocs=world,
                       start_method='fork')
    torch.manual_seed(0)
    full1 = torch.randn(2 * world, 5, dtype=torch.float64)
    full2 = torch.randn(2 * world, 5, dtype=torch.float64)
    ref1 = full1.clone().requires_grad_()
    entropy = CodingRateLoss(gather=False)(ref1, full2)['entropy']
    entropy.backward()
    for rank in range(world):
        out = torch.load(f'{result}.{rank}')
        torch.testing.assert_close(out['gathered'], full1)
        assert out['entropy'].item() == pytest.approx(entropy.item(),
                                                      abs=1e-12)
        torch.testing.assert_close(out['grad'],
                                   world * ref1.grad[2 * rank:2 * rank + 2])
    assert not os.path.exists(f'{result}.{world}')


@pytest.mark.parametrize('cfg', ALL)
def test_entropy_terms_spread_a_collapsed_batch(cfg):
    """Gradient descent on the entropy terms alone (alignment off) turns a
    nearly collapsed batch into a spread one."""
    torch.manual_seed(4)
    base = torch.tensor([[1., 0.5, -0.5, 0.25]])
    z = (base + 0.01 * torch.randn(8, 4)).requires_grad_()
    before = embedding_stats(z)
    assert before['eff_rank'] < 1.2
    loss = MODELS.build(cfg)
    optim = torch.optim.SGD([z], lr=0.05 if cfg['type'] == 'VICRegLoss'
                            else 0.5)
    drop = dict(CodingRateLoss=('align', ), MECLoss=(),
                VICRegLoss=('invariance', ))[cfg['type']]
    for _ in range(200):
        out = loss(z, z.detach().clone())
        total = sum(v for k, v in out.items() if k not in drop)
        optim.zero_grad()
        total.backward()
        optim.step()
    after = embedding_stats(z)
    assert after['eff_rank'] > 2.5, after
    assert after['mean_cos'] < before['mean_cos'] - 0.5, after
