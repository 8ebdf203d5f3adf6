# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM and mix-and-match configs: each parses, builds its model, and its
pipeline gives the views the model expects; the two mix configs train two
iterations on the tiny demo data (in process, SyncBN reverted to BN)."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.models import ALFM
from mmalfm.registry import DATASETS, MODELS

REPO = Path(__file__).resolve().parents[1]
# the ALFM configs and the mixes built on ALFM's demo
CONFIGS = sorted(
    str(p.relative_to(REPO))
    for d in ('configs/alfm', 'configs/mix') for p in (REPO / d).glob('*.py')
    if d == 'configs/alfm' or '../alfm/' in p.read_text())
FLAGSHIP = 'configs/alfm/alfm_resnet50-fpn_8xb64-coslr-800e_coco.py'
MIX = [c for c in CONFIGS if c.startswith('configs/mix/')]


def _num_context_views(pipeline) -> int:
    """Views of the MultiViewCrop that are not local patches."""
    crop = next(t for t in pipeline if t['type'] == 'MultiViewCrop')
    return sum(
        v.get('num', 1) for v in crop['views']
        if v.get('kind') != 'region_crop')


def test_the_expected_configs_exist():
    names = {Path(c).name for c in CONFIGS}
    assert {
        'alfm_resnet50-fpn_8xb64-coslr-800e_coco.py',
        'alfm_resnet50-fpn_8xb64-coslr-800e_in1k.py',
        'alfm_resnet50-fpn_8xb64-coslr-74e_in1k.py',
        'alfm-gmsr-only_resnet50-fpn_8xb64-coslr-800e_coco.py',
        'alfm-mec_resnet50-fpn_8xb64-coslr-800e_coco.py',
        'alfm-vicreg_resnet50-fpn_8xb64-coslr-800e_coco.py',
        'alfm-teacher-local_resnet50-fpn_8xb64-coslr-800e_coco.py',
        'alfm-random-boxes_resnet50-fpn_8xb64-coslr-800e_coco.py',
        'alfm-barlow_resnet50-fpn_8xb64-coslr-800e_coco.py',
        'alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py',
        'soco-views_gmsr_resnet18q_demo.py',
        'alfm_crosscl-windows_resnet18q_demo.py',
    } <= names
    assert len(MIX) == 2


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_and_views_match_the_model(path):
    cfg = Config.fromfile(str(REPO / path))
    with DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(cfg.model)
    assert type(model) is ALFM
    # the GMSR pair (a model choice) is among the pipeline's context views
    assert max(model.heads.gmsr.global_views) < _num_context_views(
        cfg.train_dataloader.dataset.pipeline), path
    assert isinstance(model.backbone.norm1, torch.nn.SyncBatchNorm)


def test_flagship_recipe():
    cfg = Config.fromfile(str(REPO / FLAGSHIP))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'LARS' and opt.weight_decay == 1e-6
    assert opt.lr == pytest.approx(0.2 * 512 / 256)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys['bn'] == dict(
        decay_mult=0, lars_exclude=True)
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_cfg.max_epochs == 800
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == 10 and (cosine.begin, cosine.end) == (10, 800)
    assert cfg.model.target_ema == dict(
        type='CosineEMA', momentum=0.004, end_momentum=0.)
    assert cfg.train_dataloader.dataset.proposal_file == \
        'proposals/ss_train2017.json'
    hook, = cfg.custom_hooks
    assert hook.type == 'RepresentationHealthHook'
    assert set(hook.std_floor) == {'gmsr', 'cdlp'} and hook.rank_floor


def test_ablations_change_only_their_key():
    base = Config.fromfile(str(REPO / FLAGSHIP)).model
    delta = {
        'mec': ('gmsr', 'loss', 'MECLoss'),
        'vicreg': ('gmsr', 'loss', 'VICRegLoss'),
        'barlow': ('cdlp', 'redundancy_loss', 'CrossCorrelationLoss'),
    }
    for name, (head, key, type_) in delta.items():
        model = Config.fromfile(
            str(REPO / 'configs/alfm' /
                f'alfm-{name}_resnet50-fpn_8xb64-coslr-800e_coco.py')).model
        assert model.heads[head][key]['type'] == type_
        others = {k for k in base if k != 'heads' and base[k] != model[k]}
        others |= {h for h in base.heads
                   if h != head and base.heads[h] != model.heads[h]}
        others |= {k for k in base.heads[head]
                   if k != key and base.heads[head][k] != model.heads[head][k]}
        assert others == set(), (name, others)
    local = Config.fromfile(
        str(REPO / 'configs/alfm/'
            'alfm-teacher-local_resnet50-fpn_8xb64-coslr-800e_coco.py'))
    assert local.model.heads.cdlp.teacher_view == 'local'
    rand = Config.fromfile(
        str(REPO / 'configs/alfm/'
            'alfm-random-boxes_resnet50-fpn_8xb64-coslr-800e_coco.py'))
    assert rand.model == base
    crop = rand.train_dataloader.dataset.pipeline[1]
    assert crop.region_sampler.source == 'random'


@pytest.fixture
def hub():
    """A 10-iteration schedule in the message hub (CosineEMA reads it)."""
    hub = MessageHub.get_current_instance()
    old = {k: hub.get_info(k) for k in ('iter', 'max_iters', 'max_epochs')}
    hub.update_info('max_iters', 10)
    hub.update_info('max_epochs', 1)
    yield hub
    for k, v in old.items():
        hub.update_info(k, v)


@pytest.mark.parametrize('path', MIX)
def test_mix_config_trains_two_iterations(path, tiny_demo_proposals, hub):
    coco, proposals = tiny_demo_proposals
    cfg = Config.fromfile(str(REPO / path))
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    if dataset.type == 'ProposalDataset':
        dataset.dataset.data_root = coco + '/'
        dataset.data_root = ''
        dataset.proposal_file = proposals
    else:
        dataset.data_root = coco + '/'
    with DefaultScope.overwrite_default_scope('mmalfm'):
        dataset = DATASETS.build(dataset)
        torch.manual_seed(0)
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.05))
    before = model.backbone.conv1.weight.detach().clone()
    for it in range(2):
        hub.update_info('iter', it)
        data = default_collate([dataset[4 * it + i] for i in range(4)])
        log = model.train_step(data, optim)
        assert torch.isfinite(log['loss'])
        assert {'loss_gmsr_align', 'loss_gmsr_entropy',
                'loss_cdlp_cross'} <= set(log)
    assert not torch.equal(before, model.backbone.conv1.weight)
    if 'crosscl' in path:
        assert 'loss_cdlp_local' in log
    else:
        assert 'loss_cdlp_local' not in log
