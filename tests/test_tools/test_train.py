# Copyright (c) mmalfm contributors. All rights reserved.
"""End-to-end tests of tools/train.py and tools/dist_train.sh on CPU."""
import os
import os.path as osp
import shutil
import socket

import pytest
import torch
from conftest import (PYTHON, REPO, TEST_DATA, assert_resume_is_bit_identical,
                      assert_state_equal, load_checkpoint,
                      run_tool, train_on_coco)

CONFIGS = osp.join(TEST_DATA, 'configs')
# Runs are forked children of the test process (conftest.fork_tool); the
# killed run of test_resume_is_bit_identical, test_dist_train_two_gloo_
# processes and the tests of tools/test.py start the script itself.
_train = train_on_coco


@pytest.fixture(scope='module')
def byol_whole(tiny_demo_data, tmp_path_factory):
    """The work dir of an uninterrupted ``byol_tiny.py`` run (4 iterations,
    checkpoints at 2 and 4), shared by the resume tests."""
    work = tmp_path_factory.mktemp('byol_whole')
    _train('byol_tiny.py', work, tiny_demo_data)
    return work


def test_resume_is_bit_identical(tiny_demo_data, byol_whole, tmp_path):
    """N iterations in one go == N/2, killed, --resume, to N. The killed
    run is `python tools/train.py`, a process that dies mid-run."""
    def train(config, work_dir, *extra, check=True, fork=True):
        return _train(config, work_dir, tiny_demo_data, *extra, check=check,
                      fork=fork)

    assert_resume_is_bit_identical(
        train, 'byol_tiny.py', tmp_path, whole=byol_whole,
        kill=lambda *args, **kwargs: train(*args, **kwargs, fork=False))


def test_resume_from_explicit_checkpoint(tiny_demo_data, byol_whole,
                                         tmp_path):
    """`--resume PATH` resumes from that file, not the latest one."""
    work = byol_whole
    first = load_checkpoint(work / 'iter_4.pth')
    shutil.copy(work / 'iter_2.pth', tmp_path / 'keep.pth')
    other = tmp_path / 'other'
    proc = _train('byol_tiny.py', other, tiny_demo_data, '--resume',
                  str(tmp_path / 'keep.pth'))
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr
    assert_state_equal(first['state_dict'],
                        load_checkpoint(other / 'iter_4.pth')['state_dict'],
                        'state_dict')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_dist_train_two_gloo_processes(tiny_demo_data, tmp_path):
    """tools/dist_train.sh with 2 CPU processes: gloo, SyncBN -> BN, and the
    two ranks end with identical weights."""
    env_path = osp.dirname(PYTHON) + os.pathsep + os.environ.get('PATH', '')
    os.environ['PATH'] = env_path  # dist_train.sh runs `python`
    os.environ['PORT'] = str(_free_port())
    try:
        proc = run_tool([
            'bash', 'tools/dist_train.sh',
            osp.join(CONFIGS, 'byol_tiny_dump_params.py'), '2',
            '--work-dir', str(tmp_path), '--cfg-options',
            f'train_dataloader.dataset.data_root={tiny_demo_data}/coco/',
            'train_cfg.max_iters=3'
        ])
    finally:
        os.environ.pop('PORT')
    log = proc.stdout + proc.stderr
    assert 'gloo backend' in log
    assert 'SyncBN layers fall back to BN' in log
    rank0 = torch.load(tmp_path / 'params_rank0.pth', weights_only=True)
    rank1 = torch.load(tmp_path / 'params_rank1.pth', weights_only=True)
    assert rank0.keys() == rank1.keys() and len(rank0) > 0
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert (tmp_path / 'iter_2.pth').exists()


def test_typo_in_module_type_names_type_and_config(tiny_demo_data, tmp_path):
    proc = _train('byol_tiny_typo.py', tmp_path, tiny_demo_data, check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-3:]
    text = '\n'.join(last)
    assert 'ConfigTypeError' in text
    assert 'byol_tiny_typo.py' in text
    assert "'BYOLL'" in text
    assert "Did you mean 'BYOL'" in text


class TestMergeArgs:
    """Command-line options folded into the config (no training)."""

    from mmalfm.apis import train

    def _cfg(self, *argv):
        from mmengine.config import Config
        args = self.train.parse_args(
            [osp.join(REPO, 'configs/byol/byol_resnet18_1xb16-10e_demo.py'),
             *argv])
        return self.train.merge_args(Config.fromfile(args.config), args)

    def test_defaults(self):
        cfg = self._cfg()
        assert cfg.work_dir == osp.join('./work_dirs',
                                        'byol_resnet18_1xb16-10e_demo')
        assert cfg.resume is False and cfg.launcher == 'none'

    def test_resume_auto_and_path(self):
        cfg = self._cfg('--resume')
        assert cfg.resume is True and cfg.load_from is None
        cfg = self._cfg('--resume', 'x/iter_2.pth')
        assert cfg.resume is True and cfg.load_from == 'x/iter_2.pth'

    def test_amp_and_auto_scale_lr(self):
        cfg = self._cfg('--amp', '--auto-scale-lr')
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.optim_wrapper.loss_scale == 'dynamic'
        assert cfg.auto_scale_lr == dict(base_batch_size=16, enable=True)

    def test_cfg_options_and_work_dir(self):
        cfg = self._cfg('--work-dir', 'w', '--cfg-options',
                        'train_dataloader.batch_size=3',
                        'model.backbone.depth=34')
        assert cfg.work_dir == 'w'
        assert cfg.train_dataloader.batch_size == 3
        assert cfg.model.backbone.depth == 34

    def test_auto_scale_lr_needs_base_batch_size(self):
        from mmengine.config import Config
        args = self.train.parse_args([
            osp.join(REPO, 'configs/byol/byol_resnet18_1xb16-10e_demo.py'),
            '--auto-scale-lr'
        ])
        cfg = Config.fromfile(args.config)
        cfg._cfg_dict.pop('auto_scale_lr')
        with pytest.raises(KeyError, match='base_batch_size'):
            self.train.merge_args(cfg, args)


def test_epoch_based_resume_is_bit_identical(tiny_demo_data, tmp_path):
    """2 epochs in one go == 1 epoch, killed, --resume, 1 more epoch, with
    two persistent workers: identical weights (so identical augmentations,
    see mmalfm.datasets.seeding)."""
    whole, split = tmp_path / 'whole', tmp_path / 'split'
    _train('byol_tiny_epochs.py', whole, tiny_demo_data)
    killed = _train('byol_tiny_epochs_interrupted.py', split, tiny_demo_data,
                    check=False)
    assert killed.returncode == 3, killed.stderr[-3000:]
    assert (split / 'epoch_1.pth').exists()
    assert not (split / 'epoch_2.pth').exists()
    resumed = _train('byol_tiny_epochs.py', split, tiny_demo_data, '--resume')
    assert 'resumed epoch: 1' in resumed.stdout + resumed.stderr
    a = load_checkpoint(whole / 'epoch_2.pth')
    b = load_checkpoint(split / 'epoch_2.pth')
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_state_equal(a[key], b[key], key)


def test_byol_skips_corrupt_images_and_names_them(tiny_demo_data, tmp_path):
    """The baseline has the region methods' loader: a zero-byte file and a
    JPEG cut in half are named, skipped, and training finishes."""
    data = tmp_path / 'data'
    shutil.copytree(tiny_demo_data, data)
    images = data / 'coco' / 'train2017'
    (images / '000001.jpg').write_bytes(b'')
    cut = (images / '000002.jpg').read_bytes()
    (images / '000002.jpg').write_bytes(cut[:len(cut) // 2])
    proc = _train('byol_tiny.py', tmp_path / 'run', str(data),
                  'custom_hooks.0.interval=2')
    log = proc.stdout + proc.stderr
    for name, why in (('000001.jpg', 'the file is empty'),
                      ('000002.jpg', 'truncated JPEG')):
        assert f"Skipping corrupt image '{images / name}' ({why}" in log
    assert 'skipped_images: 2' in log  # counted by RepresentationHealthHook
    assert (tmp_path / 'run' / 'iter_4.pth').exists()


def test_byol_divergence_stops_before_a_bad_checkpoint(tiny_demo_data,
                                                      tmp_path):
    """lr=1e6: the loss stays finite while a BN running variance reaches inf
    at the 4th iteration; the guard names it and the iteration as logged,
    and only the finite iter_2.pth is on disk."""
    work = tmp_path / 'run'
    proc = _train('byol_tiny.py', work, tiny_demo_data,
                  'optim_wrapper.optimizer.lr=1e6', check=False)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('FloatingPointError: Non-finite weights or '
                           'statistics after Iter(train) [4/4]: '), last
    assert 'running_var' in last and '`optim_wrapper.optimizer.lr`' in last
    assert 'Iter(train) [3/4]' in proc.stdout + proc.stderr
    assert not (work / 'iter_4.pth').exists()
    state = load_checkpoint(work / 'iter_2.pth')['state_dict']
    assert all(v.isfinite().all() for v in state.values()
               if v.is_floating_point())
