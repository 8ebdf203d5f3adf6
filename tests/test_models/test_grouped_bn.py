# Copyright (c) mmalfm contributors. All rights reserved.
"""Per-group BatchNorm statistics in one call == one call per group."""
import copy

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from mmalfm.models.utils import SlotGroups, grouped_bn_stats

SIZES = [6, 4, 6]


def head(sync: bool = False, momentum=0.1) -> nn.Module:
    """Conv-BN-ReLU -> flatten -> Linear-BN1d, as a tiny RoI head + MLP."""
    norm2d = nn.SyncBatchNorm if sync else nn.BatchNorm2d
    norm1d = nn.SyncBatchNorm if sync else nn.BatchNorm1d
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), norm2d(4, momentum=momentum),
        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 8, bias=False),
        norm1d(8, momentum=momentum))
    with torch.no_grad():  # non-trivial affine parameters and buffers
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return net


def data(sizes=SIZES, seed: int = 1) -> torch.Tensor:
    """Rows of ``len(sizes)`` groups with different means and scales (so
    that normalising them together shows)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(sum(sizes), 3, 5, 5, generator=g)
    off = torch.cat([torch.full((s, ), float(i)) for i, s in
                     enumerate(sizes)]).reshape(-1, 1, 1, 1)
    return x * (1 + off) + off


def buffers(net: nn.Module) -> dict:
    return {k: v.clone() for k, v in net.state_dict().items()
            if 'running' in k or 'num_batches' in k}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm())


def reference(net: nn.Module, x: torch.Tensor, sizes=SIZES):
    """The loop the context replaces: one call per group, in order."""
    x = x.clone().requires_grad_()
    y = torch.cat([net(p) for p in x.split(sizes)])
    return x, y


@pytest.mark.parametrize('momentum', [0.1, None])
def test_equals_one_call_per_group(momentum):
    net = head(momentum=momentum)
    ref = copy.deepcopy(net)
    x = data()
    weights = torch.randn(len(x), 8, generator=torch.Generator().manual_seed(2))
    xg = x.clone().requires_grad_()
    with grouped_bn_stats(net, SIZES):
        y = net(xg)
    (y * weights).sum().backward()
    xr, yr = reference(ref, x)
    (yr * weights).sum().backward()
    assert rel_err(y, yr) < 1e-6
    assert rel_err(xg.grad, xr.grad) < 1e-6
    for (name, p), pr in zip(net.named_parameters(), ref.parameters()):
        assert rel_err(p.grad, pr.grad) < 1e-6, name
    got, want = buffers(net), buffers(ref)
    assert want['1.num_batches_tracked'].item() == len(SIZES)
    for k in want:
        if 'num_batches' in k:
            assert got[k].item() == want[k].item(), k
        else:
            assert rel_err(got[k], want[k]) < 1e-6, k
    # and the statistics really differ from one call over all rows
    mixed = copy.deepcopy(ref)
    assert rel_err(mixed(x), yr) > 1e-2


def test_an_empty_group_is_skipped():
    net, ref = head(), head()
    x = data([6, 10])
    with grouped_bn_stats(net, [6, 0, 10]):
        y = net(x)
    _, yr = reference(ref, x, [6, 10])
    assert rel_err(y, yr) < 1e-6
    assert buffers(net)['1.num_batches_tracked'].item() == 2


def test_eval_mode_and_outside_the_context_are_untouched():
    net = head().eval()
    x = data()
    before = buffers(net)
    with grouped_bn_stats(net, SIZES):
        y = net(x)
    torch.testing.assert_close(y, net(x), rtol=0, atol=0)
    for k, v in buffers(net).items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    for m in net.modules():
        assert 'forward' not in m.__dict__


def test_forward_is_restored_after_an_error():
    net = head()
    with pytest.raises(ZeroDivisionError):
        with grouped_bn_stats(net, SIZES):
            1 / 0
    assert all('forward' not in m.__dict__ for m in net.modules())
    with grouped_bn_stats(net, SIZES):  # usable again
        net(data())


def test_wrong_row_count_and_nesting_are_named():
    net = head()
    with pytest.raises(ValueError, match=r'15 rows but the groups \[6, 4, 6'):
        with grouped_bn_stats(net, SIZES):
            net(torch.randn(15, 3, 5, 5))
    with pytest.raises(RuntimeError, match='do not nest'):
        with grouped_bn_stats(net, SIZES):
            with grouped_bn_stats(net[1], SIZES):
                pass
    assert all('forward' not in m.__dict__ for m in net.modules())


def test_autocast_keeps_the_dtype_and_the_statistics():
    net, ref = head(), head()
    x = data()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with grouped_bn_stats(net, SIZES):
            y = net(x)
        yr = torch.cat([ref(p) for p in x.split(SIZES)])
    assert y.dtype == yr.dtype
    torch.testing.assert_close(y, yr, rtol=0, atol=0)


def test_slot_groups_round_trip():
    # slots of 2 images: groups [1, 0, 1, 2, 0] -> group-contiguous rows
    groups = SlotGroups([1, 0, 1, 2, 0])
    x = torch.arange(10.).reshape(2, 5)  # image 0: 0..4, image 1: 5..9
    rows = groups.to_rows(x)
    assert rows.tolist() == [1, 4, 6, 9, 0, 2, 5, 7, 3, 8]
    assert groups.sizes(2) == [4, 4, 2]
    torch.testing.assert_close(groups.from_rows(rows, 2), x)
    blocks = SlotGroups.blocks(4, 3)  # SoCo: 4 levels x 3 boxes
    assert blocks.identity and blocks.counts == [3, 3, 3, 3]
    y = torch.randn(2, 12, 7)
    torch.testing.assert_close(blocks.from_rows(blocks.to_rows(y), 2), y)
    with pytest.raises(ValueError, match='>= 0'):
        SlotGroups([0, -1])


# ------------------------------------------------------- SyncBN, 2 ranks
# rows of each group on rank 0 / 1 (together: SIZES)
RANK_ROWS = [[3, 2, 4], [3, 2, 2]]


def _global_split(x: torch.Tensor):
    """Rows of each rank, group by group, from the global group layout."""
    sizes = [a + b for a, b in zip(*RANK_ROWS)]
    parts = [[], []]
    for p, (a, b) in zip(x.split(sizes), zip(*RANK_ROWS)):
        parts[0].append(p[:a])
        parts[1].append(p[a:a + b])
    return [torch.cat(p) for p in parts], sizes


def _sync_worker(rank: int, world: int, store: str, result: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)  # forked child: keep out of the parent's pool
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=world)
    try:
        net = head(sync=True)
        x, _ = _global_split(data(seed=3))
        weights, _ = _global_split(
            torch.randn(len(x[0]) + len(x[1]), 8,
                        generator=torch.Generator().manual_seed(4)))
        xl = x[rank].clone().requires_grad_()
        with grouped_bn_stats(net, RANK_ROWS[rank]):
            y = net(xl)
        (y * weights[rank]).sum().backward()
        torch.save(
            dict(y=y.detach(), grad=xl.grad, buffers=buffers(net),
                 param_grads=[p.grad for p in net.parameters()]),
            f'{result}.{rank}')
    finally:
        dist.destroy_process_group()


def test_sync_bn_statistics_are_reduced_across_ranks(tmp_path):
    """gloo, 2 processes with different rows per group: outputs, input
    gradients and running statistics equal one BN call per group on the
    rows of both ranks; the ranks' parameter gradients sum to it."""
    world = 2
    result = str(tmp_path / 'out')
    mp.start_processes(_sync_worker,
                       args=(world, str(tmp_path / 'store'), result),
                       nprocs=world,
                       start_method='fork')
    ref = head(sync=False)
    full = data(seed=3)
    weights = torch.randn(len(full), 8,
                          generator=torch.Generator().manual_seed(4))
    _, sizes = _global_split(full)
    xr, yr = reference(ref, full, sizes)
    (yr * weights).sum().backward()
    ys, grads = _global_split(yr.detach()), _global_split(xr.grad)
    outs = [torch.load(f'{result}.{r}') for r in range(world)]
    want = buffers(ref)
    for rank, out in enumerate(outs):
        assert rel_err(out['y'], ys[0][rank]) < 1e-5
        assert rel_err(out['grad'], grads[0][rank]) < 1e-5
        for k, v in want.items():
            if 'num_batches' in k:
                assert out['buffers'][k].item() == v.item() == 3, k
            else:
                assert rel_err(out['buffers'][k], v) < 1e-5, (rank, k)
    for i, p in enumerate(ref.parameters()):
        total = outs[0]['param_grads'][i] + outs[1]['param_grads'][i]
        assert rel_err(total, p.grad) < 1e-5, i
