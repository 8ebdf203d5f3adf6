# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``mmalfm/utils/cpu_fallback.py`` and
``mmalfm.models.GlooDistributedDataParallel``."""
import copy

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.model import BaseModel, MMDistributedDataParallel
from torch import nn

import mmalfm  # noqa: F401
from mmalfm.models import GlooDistributedDataParallel
from mmalfm.registry import MODEL_WRAPPERS
from mmalfm.utils import adapt_config_to_cpu


def _gpu_config(**extra) -> Config:
    """The parts of a released (GPU) config that the adaptation touches."""
    return Config(
        dict(
            model=dict(
                type='BYOL', backbone=dict(norm_cfg=dict(type='SyncBN'))),
            env_cfg=dict(
                cudnn_benchmark=False,
                mp_cfg=dict(mp_start_method='fork'),
                dist_cfg=dict(backend='nccl', timeout=1800)),
            **extra))


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


@pytest.fixture
def with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)


# --------------------------------------------------------------------------
# adapt_config_to_cpu
# --------------------------------------------------------------------------
@pytest.mark.parametrize('cuda', [False, True], ids=['no-cuda', 'cuda'])
def test_single_process_changes_nothing(cuda, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    cfg = _gpu_config()
    before = copy.deepcopy(cfg.to_dict())
    assert adapt_config_to_cpu(cfg, distributed=False) is False
    assert cfg.to_dict() == before


def test_distributed_with_cuda_changes_nothing(with_cuda):
    cfg = _gpu_config(
        model_wrapper_cfg=dict(
            type='MMDistributedDataParallel', find_unused_parameters=True))
    before = copy.deepcopy(cfg.to_dict())
    assert adapt_config_to_cpu(cfg, distributed=True) is False
    assert cfg.to_dict() == before


def test_distributed_without_cuda_uses_gloo(no_cuda):
    cfg = _gpu_config()
    assert adapt_config_to_cpu(cfg, distributed=True) is True
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    # Other env settings are kept.
    assert cfg.env_cfg.dist_cfg.timeout == 1800
    assert cfg.env_cfg.cudnn_benchmark is False
    assert cfg.env_cfg.mp_cfg.mp_start_method == 'fork'
    wrapper = cfg.model_wrapper_cfg
    assert wrapper.type == 'mmalfm.GlooDistributedDataParallel'
    assert wrapper.broadcast_buffers is False
    assert wrapper.find_unused_parameters is False
    # The model itself (SyncBN) is left to the wrapper.
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    # The wrapper type resolves, from our scope and from MMEngine's.
    assert MODEL_WRAPPERS.get(wrapper.type) is GlooDistributedDataParallel




@pytest.mark.parametrize('cfg_dict', [
    pytest.param(
        dict(model=dict(type='BYOL')),
        id='no-env_cfg'),
    pytest.param(
        dict(model=dict(type='BYOL'), env_cfg=dict(cudnn_benchmark=False)),
        id='env_cfg-without-dist_cfg'),
    pytest.param(
        dict(
            model=dict(type='BYOL'),
            env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict())),
        id='empty-dist_cfg'),
])
def test_distributed_without_cuda_completes_env_cfg(no_cuda, cfg_dict):
    cfg = Config(cfg_dict)
    assert adapt_config_to_cpu(cfg, distributed=True) is True
    assert cfg.model_wrapper_cfg.type == 'mmalfm.GlooDistributedDataParallel'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_keeps_user_keys_of_existing_wrapper(no_cuda):
    cfg = _gpu_config(
        model_wrapper_cfg=dict(
            type='MMDistributedDataParallel',
            find_unused_parameters=True,
            broadcast_buffers=True,
            static_graph=False))
    assert adapt_config_to_cpu(cfg, distributed=True) is True
    assert cfg.model_wrapper_cfg.to_dict() == dict(
        type='mmalfm.GlooDistributedDataParallel',
        find_unused_parameters=True,
        broadcast_buffers=True,
        static_graph=False)


def test_top_level_find_unused_parameters_is_honoured(no_cuda):
    # MMEngine reads a top-level `find_unused_parameters` for its default
    # wrapper; the CPU wrapper must get the same value.
    cfg = _gpu_config(find_unused_parameters=True)
    assert adapt_config_to_cpu(cfg, distributed=True) is True
    assert cfg.model_wrapper_cfg.find_unused_parameters is True


@pytest.mark.parametrize(
    'wrapper_type',
    ['MMFullyShardedDataParallel', 'MMSeparateDistributedDataParallel',
     'DeepSpeedEngineWrapper'])
def test_unsupported_wrapper_raises(no_cuda, wrapper_type):
    cfg = _gpu_config(model_wrapper_cfg=dict(type=wrapper_type))
    with pytest.raises(ValueError, match=wrapper_type):
        adapt_config_to_cpu(cfg, distributed=True)


@pytest.mark.parametrize('wrapper_type', [
    'GlooDistributedDataParallel',
    pytest.param(
        'mmalfm.GlooDistributedDataParallel'),
])
def test_existing_gloo_wrapper_is_accepted(no_cuda, wrapper_type):
    cfg = _gpu_config(
        model_wrapper_cfg=dict(type=wrapper_type, find_unused_parameters=True))
    assert adapt_config_to_cpu(cfg, distributed=True) is True
    assert cfg.model_wrapper_cfg.type == 'mmalfm.GlooDistributedDataParallel'
    assert cfg.model_wrapper_cfg.find_unused_parameters is True


# --------------------------------------------------------------------------
# GlooDistributedDataParallel in a single-process gloo group
# --------------------------------------------------------------------------
class SyncBNModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.SyncBatchNorm(4)
        self.head = nn.Sequential(nn.Linear(4, 4), nn.SyncBatchNorm(4),
                                  nn.Linear(4, 2))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.bn(self.conv(inputs)).mean((2, 3))
        out = self.head(x)
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


@pytest.fixture
def gloo_group(tmp_path):
    assert not torch_dist.is_initialized()
    torch_dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


def test_gloo_ddp_reverts_sync_bn(gloo_group):
    torch.manual_seed(0)
    model = SyncBNModel()
    with torch.no_grad():  # non-trivial BN state
        model.bn.running_mean.uniform_()
        model.bn.weight.uniform_()
    expected = {k: v.clone() for k, v in model.state_dict().items()}

    wrapper = GlooDistributedDataParallel(
        model, device_ids=[0], output_device=0, broadcast_buffers=False)
    assert isinstance(wrapper, MMDistributedDataParallel)
    assert wrapper.device_ids is None
    module = wrapper.module
    assert not any(
        isinstance(m, nn.SyncBatchNorm) for m in module.modules())
    assert isinstance(module.bn, nn.modules.batchnorm._BatchNorm)
    assert isinstance(module.head[1], nn.modules.batchnorm._BatchNorm)
    state = module.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key

    # Forward/backward in train mode on CPU.
    wrapper.train()
    out = wrapper(torch.randn(4, 3, 8, 8))
    assert out.shape == (4, 2)
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in module.parameters())
    assert module.bn.num_batches_tracked.item() == 1


def test_gloo_ddp_train_step(gloo_group):
    from mmengine.optim import OptimWrapper
    model = SyncBNModel()
    wrapper = GlooDistributedDataParallel(model, broadcast_buffers=False)
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(wrapper.module.parameters(), lr=0.1))
    before = wrapper.module.conv.weight.detach().clone()
    losses = wrapper.train_step(
        dict(inputs=torch.randn(4, 3, 8, 8)), optim_wrapper)
    assert set(losses) >= {'loss'}
    assert not torch.equal(wrapper.module.conv.weight, before)


def test_gloo_ddp_builds_from_registry(gloo_group):
    wrapper = MODEL_WRAPPERS.build(
        dict(
            type='mmalfm.GlooDistributedDataParallel',
            module=SyncBNModel(),
            broadcast_buffers=False,
            find_unused_parameters=False))
    assert type(wrapper) is GlooDistributedDataParallel
    assert not any(
        isinstance(m, nn.SyncBatchNorm) for m in wrapper.module.modules())
