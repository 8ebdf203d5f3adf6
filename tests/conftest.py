# Copyright (c) mmalfm contributors. All rights reserved.
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import Dict, List, Optional, Tuple

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_DATA = osp.join(REPO, 'tests', 'data')


def load_tool(relpath: str) -> ModuleType:
    """Import a script under ``tools/`` as a module."""
    path = osp.join(REPO, relpath)
    name = 'tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def tiny_demo_data(tmp_path_factory) -> str:
    """A tiny copy of the demo data set (12 train / 4 val images, 64-96 px).

    Returns:
        str: The data set root; COCO layout under ``coco/``.
    """
    out = tmp_path_factory.mktemp('demo')
    make = load_tool('tools/data/make_demo_data.py')
    make.make_demo_data(
        out, num_train=12, num_val=4, seed=0, min_size=64, max_size=96)
    return str(out)


def run_tool(args: List[str], *, timeout: int = 300,
             check: bool = True,
             env: Optional[Dict[str, str]] = None
             ) -> subprocess.CompletedProcess:
    """Run a command from the repository root with the test plugins on the
    path (in ``env``, default this process's environment), failing with its
    output if it fails and ``check`` is set."""
    env = dict(os.environ if env is None else env)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO, osp.join(TEST_DATA, 'plugins'),
         env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f'{" ".join(args)} exited with {proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                    f'--- stderr ---\n{proc.stderr[-8000:]}')
    return proc


PYTHON = sys.executable



@pytest.fixture(scope='session')
def tiny_demo_proposals(tiny_demo_data, tmp_path_factory) -> Tuple[str, str]:
    """The tiny demo set's COCO root and its selective-search proposal file
    (made once per session by ``tools/data/selective_search.py``).

    Returns:
        tuple[str, str]: ``(coco_root, proposal_file)``.
    """
    coco = osp.join(tiny_demo_data, 'coco')
    proposals = tmp_path_factory.mktemp('proposals') / 'ss_train2017.json'
    run_tool([
        PYTHON, 'tools/data/selective_search.py',
        osp.join(coco, 'annotations', 'instances_train2017.json'),
        str(proposals), '--img-prefix',
        osp.join(coco, 'train2017'), '--nproc', '1'
    ])
    return coco, str(proposals)


def train_on_proposals(config: str, work_dir, data: Tuple[str, str], *extra,
                       check: bool = True):
    """``tools/train.py`` on a ``ProposalDataset`` config of
    ``tests/data/configs`` with the data of :func:`tiny_demo_proposals`."""
    coco, proposals = data
    return run_tool([
        PYTHON, 'tools/train.py',
        osp.join(TEST_DATA, 'configs', config), '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.dataset.data_root={coco}/',
        'train_dataloader.dataset.data_root=',
        f'train_dataloader.dataset.proposal_file={proposals}', *extra
    ], check=check)


def tiny_trunk_cfg(**backbone_overrides) -> dict:
    """Model keys of the tiny detection-aligned trunk of the SoCo and ALFM
    unit tests: data preprocessor, ResNet-18 at 1/8 width (BN), FPN 16
    (P2-P5), RoIAlign 7x7 and a 4conv1fc head 16 -> 32."""
    bn = dict(type='BN')
    return dict(
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True),
        backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(0, 1, 2, 3),
            norm_cfg=bn,
            norm_eval=False,
            **backbone_overrides),
        neck=dict(
            type='mmdet.FPN',
            in_channels=[8, 16, 32, 64],
            out_channels=16,
            num_outs=4,
            norm_cfg=bn),
        roi_pool=dict(output_size=7, featmap_strides=(4, 8, 16, 32)),
        roi_head=dict(
            type='RegionRoIHead',
            bbox_head=dict(
                type='ConvFCRoIFeatureHead',
                in_channels=16,
                conv_out_channels=16,
                fc_out_channels=32,
                norm_cfg=bn)))


def state_shapes(state: dict, prefixes) -> dict:
    """``{key: shape}`` of the state-dict entries starting with
    ``prefixes`` (a string or a tuple of strings)."""
    return {
        k: tuple(v.shape)
        for k, v in state.items() if k.startswith(prefixes)
    }


def assert_trunk_keys_match_mmdet(config: str) -> dict:
    """Build the model of ``config`` (a repo-relative R50-FPN-4conv1fc
    pretraining base) and assert that its backbone, neck and box-head keys
    and shapes equal mmdet's Mask R-CNN R50-FPN with a
    ``Shared4Conv1FCBBoxHead`` (SoCo's downstream protocol), so the exporter
    needs none of our code. Returns our state dict for method-specific
    checks."""
    import mmdet
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmalfm.registry import MODELS

    cfg = Config.fromfile(osp.join(REPO, config))
    with DefaultScope.overwrite_default_scope('mmalfm'):
        ours = MODELS.build(cfg.model).state_dict()
    det_cfg = Config.fromfile(
        osp.join(
            osp.dirname(mmdet.__file__), '.mim', 'configs', 'mask_rcnn',
            'mask-rcnn_r50_fpn_1x_coco.py'))
    sync = dict(type='SyncBN', requires_grad=True)
    det_cfg.model.backbone.update(norm_cfg=sync, init_cfg=None)
    det_cfg.model.neck.norm_cfg = sync
    det_cfg.model.roi_head.bbox_head = dict(
        det_cfg.model.roi_head.bbox_head,
        type='Shared4Conv1FCBBoxHead',
        norm_cfg=sync)
    with DefaultScope.overwrite_default_scope('mmdet'):
        theirs = MMDET_MODELS.build(det_cfg.model).state_dict()
    for part in ('backbone.', 'neck.'):
        assert state_shapes(ours, part) == state_shapes(theirs, part), part
    head = ('roi_head.bbox_head.shared_convs.',
            'roi_head.bbox_head.shared_fcs.')
    assert state_shapes(ours, head) == state_shapes(theirs, head)
    assert len(state_shapes(ours, head)) == 4 * 6 + 2
    return ours


def load_checkpoint(path) -> dict:
    """Load one of our checkpoints with ``weights_only=True`` (mmalfm's
    allow-list)."""
    import mmalfm  # noqa: F401
    from mmalfm.utils import safe_load
    return safe_load(str(path), map_location='cpu')


def assert_state_equal(a, b, what: str) -> None:
    """Bit-identical nested states (tensors compared with torch.equal)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), what
        assert a.dtype == b.dtype and a.shape == b.shape, what
        assert torch.equal(a, b), f'{what} differs'
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for key in a:
            assert_state_equal(a[key], b[key], f'{what}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_state_equal(x, y, f'{what}[{i}]')
    else:
        assert a == b, f'{what}: {a!r} != {b!r}'


def assert_resume_is_bit_identical(train, config: str, tmp_path) -> None:
    """4 iterations in one go == 2, killed (``<config>_interrupted.py``),
    ``--resume``, to 4: identical online and EMA target weights, BN
    statistics, optimizer (LARS momentum) and LR scheduler states.

    Args:
        train (callable): ``train(config, work_dir, *extra, check=True)``
            running ``tools/train.py`` on the test data.
        config (str): ``'<name>.py'`` under ``tests/data/configs``.
        tmp_path: pytest's temporary directory.
    """
    whole, split = tmp_path / 'whole', tmp_path / 'split'
    train(config, whole)

    killed = train(config.replace('.py', '_interrupted.py'), split,
                   check=False)
    assert killed.returncode == 3, killed.stderr[-3000:]
    assert (split / 'iter_2.pth').exists()
    assert not (split / 'iter_4.pth').exists()

    resumed = train(config, split, '--resume')
    assert 'Advance dataloader 2 steps' in resumed.stdout + resumed.stderr

    ckpt_whole = load_checkpoint(whole / 'iter_4.pth')
    ckpt_split = load_checkpoint(split / 'iter_4.pth')
    assert ckpt_split['meta']['iter'] == ckpt_whole['meta']['iter'] == 4
    assert any(k.startswith('target_net.') for k in ckpt_whole['state_dict'])
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_state_equal(ckpt_whole[key], ckpt_split[key], key)
    # The runs really did train: weights moved away from the resumed start.
    start = load_checkpoint(split / 'iter_2.pth')['state_dict']
    key = 'backbone.conv1.weight'
    assert not torch.equal(start[key], ckpt_whole['state_dict'][key])
