# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``mmalfm/utils/resume.py``: ``--resume`` survives corrupt,
missing and unsafe checkpoints, says so, and never unpickles an unsafe one.

The faults are injected into the checkpoints of a real tiny BYOL run
(``tests/data/configs/byol_tiny.py``: 4 iterations, ``iter_2.pth`` and
``iter_4.pth``). Training runs in-process through ``tools/train.py``'s
``main`` (the command line minus the interpreter start)."""
import glob
import logging
import os
import os.path as osp
import shutil
import sys
import uuid
import zipfile

import pytest
import torch
from conftest import TEST_DATA, load_checkpoint
from mmengine.config import Config
from mmengine.logging import MMLogger

import mmalfm  # noqa: F401  (allow-list)
from mmalfm.apis import train as TRAIN
from mmalfm.utils import (CheckpointReadError, UnsafeCheckpointError,
                          check_resume_checkpoint, find_resume_checkpoint,
                          list_resume_candidates, resolve_resume)

CONFIG = osp.join(TEST_DATA, 'configs', 'byol_tiny.py')
MMENGINE_NONE = 'Auto resumed from the latest checkpoint None'
TRUNCATED = ('is truncated (its zip archive has no central directory: an '
             'interrupted write or a full disk?)')


class Evil:
    """Unpickles as ``os.system('touch MARKER')``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class Records(logging.Handler):
    """Collects ``(level, message)`` of a logger."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append((record.levelno, record.getMessage()))

    def warnings(self):
        return [m for level, m in self.records if level == logging.WARNING]


@pytest.fixture
def log():
    """A fresh logger and its :class:`Records`."""
    logger = logging.getLogger(f'test_resume.{uuid.uuid4().hex}')
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    records = Records()
    logger.addHandler(records)
    return logger, records


def _train(work_dir, data_root, *extra):
    """``tools/train.py`` in this process."""
    TRAIN.main([
        CONFIG,
        '--work-dir',
        str(work_dir),
        *extra,
        '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}/coco/',
        # A unique MMLogger/MessageHub instance per in-process run.
        f'experiment_name=resume_{uuid.uuid4().hex[:8]}'
    ])


@pytest.fixture
def console(capsys):
    """``capsys``; afterwards the run's MMLogger (still the current one)
    stops writing to ``capsys``'s stream, which pytest closes."""
    yield capsys
    for handler in MMLogger.get_current_instance().handlers:
        if type(handler) is logging.StreamHandler:
            handler.stream = sys.__stdout__  # Not setStream: no flush.


def _log_text(work_dir) -> str:
    """The run logs (``work_dir/<timestamp>/<timestamp>.log``)."""
    files = sorted(glob.glob(osp.join(str(work_dir), '*', '*.log')))
    assert files, f'no log file in {work_dir}'
    return '\n'.join(open(f).read() for f in files)


@pytest.fixture(scope='module')
def run(tiny_demo_data, tmp_path_factory):
    """A finished tiny run: ``iter_2.pth``, ``iter_4.pth``,
    ``last_checkpoint`` -> ``iter_4.pth``."""
    work = tmp_path_factory.mktemp('resume_run')
    _train(work, tiny_demo_data)
    assert (work / 'last_checkpoint').read_text().strip() == str(work /
                                                                 'iter_4.pth')
    return work


def _copy_run(run, dst):
    """The run's checkpoints in ``dst`` (``last_checkpoint`` rewritten)."""
    dst.mkdir(exist_ok=True)
    for name in ('iter_2.pth', 'iter_4.pth'):
        shutil.copy(run / name, dst / name)
    (dst / 'last_checkpoint').write_text(str(dst / 'iter_4.pth'))
    return dst


def _truncate(path, keep=0.5):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])


def _save_evil(path, marker, **kwargs):
    torch.save(
        dict(meta=dict(epoch=0, iter=3, hook=Evil(marker)),
             state_dict={},
             message_hub={}), str(path), **kwargs)


def _touch(path, mtime):
    path.write_bytes(b'')
    os.utime(path, (mtime, mtime))


# ---------------------------------------------------------------- ordering
def test_candidate_order(tmp_path):
    """last_checkpoint first, then epoch_/iter_ by number (not by name or
    mtime), ties by mtime then name, then the rest newest first; best_*,
    non-.pth files, folders and subfolders left out."""
    _touch(tmp_path / 'epoch_10.pth', 100)
    _touch(tmp_path / 'epoch_9.pth', 300)  # newer, but a smaller number
    _touch(tmp_path / 'epoch_2.pth', 200)
    _touch(tmp_path / 'iter_9.pth', 400)  # same number, newer
    _touch(tmp_path / 'latest.pth', 50)
    _touch(tmp_path / 'a_export.pth', 60)
    _touch(tmp_path / 'b.pth', 60)  # same mtime as a_export.pth: by name
    _touch(tmp_path / 'best_loss_epoch_10.pth', 500)
    _touch(tmp_path / 'epoch_11.pth.tmp', 500)
    (tmp_path / 'epoch_12.pth').mkdir()
    (tmp_path / 'sub').mkdir()
    _touch(tmp_path / 'sub' / 'epoch_99.pth', 500)
    (tmp_path /
     'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth') + '\n')
    names = [
        osp.relpath(p, tmp_path) for p in list_resume_candidates(tmp_path)
    ]
    assert names == [
        'epoch_2.pth', 'epoch_10.pth', 'iter_9.pth', 'epoch_9.pth',
        'a_export.pth', 'b.pth', 'latest.pth'
    ]


def test_candidate_order_last_checkpoint_missing_or_empty(tmp_path):
    _touch(tmp_path / 'iter_2.pth', 100)
    _touch(tmp_path / 'iter_4.pth', 50)
    gone = str(tmp_path / 'iter_6.pth')
    (tmp_path / 'last_checkpoint').write_text(gone)
    assert list_resume_candidates(str(tmp_path)) == [
        gone, str(tmp_path / 'iter_4.pth'),
        str(tmp_path / 'iter_2.pth')
    ]
    (tmp_path / 'last_checkpoint').write_text('\n')
    assert list_resume_candidates(str(tmp_path)) == [
        str(tmp_path / 'iter_4.pth'),
        str(tmp_path / 'iter_2.pth')
    ]


def test_candidates_of_empty_and_missing_work_dir(tmp_path):
    assert list_resume_candidates(str(tmp_path)) == []
    assert list_resume_candidates(str(tmp_path / 'nope')) == []


# -------------------------------------------------------------- validation
def test_check_resume_checkpoint_reasons(run, tmp_path):
    check_resume_checkpoint(str(run / 'iter_4.pth'))  # a real one: fine

    cases = {}
    cases['truncated.pth'] = TRUNCATED
    shutil.copy(run / 'iter_4.pth', tmp_path / 'truncated.pth')
    _truncate(tmp_path / 'truncated.pth')
    (tmp_path / 'empty.pth').write_bytes(b'')
    cases['empty.pth'] = 'is empty (0 bytes; an interrupted write?)'
    (tmp_path / 'zeros.pth').write_bytes(bytes(4096))
    cases['zeros.pth'] = ('is not a torch checkpoint (neither a zip archive '
                          "nor torch's legacy format)")
    cases['missing.pth'] = 'does not exist'
    torch.save(dict(state_dict={}, meta=dict(mmalfm_export=dict(version=1))),
               tmp_path / 'export.pth')
    cases['export.pth'] = 'is an mmalfm export, not a training checkpoint'
    torch.save(dict(state_dict={'w': torch.zeros(1)}), tmp_path / 'w.pth')
    cases['w.pth'] = ('is not a training checkpoint (no `meta` with `epoch` '
                      'and `iter`)')
    torch.save(dict(meta=dict(epoch=0, iter=2), state_dict={}),
               tmp_path / 'nohub.pth')
    cases['nohub.pth'] = 'is not a training checkpoint (no `message_hub`)'
    torch.save([1, 2], tmp_path / 'list.pth')
    cases['list.pth'] = 'is not a training checkpoint (not a dict)'
    with zipfile.ZipFile(run / 'iter_2.pth') as src, zipfile.ZipFile(
            tmp_path / 'bad_pickle.pth', 'w') as dst:
        for info in src.infolist():  # data.pkl without its STOP opcode.
            data = src.read(info.filename)
            if info.filename.endswith('/data.pkl'):
                data = data[:-1]
            dst.writestr(info, data)
    cases['bad_pickle.pth'] = 'is damaged or unreadable (EOFError)'
    ckpt = load_checkpoint(run / 'iter_2.pth')
    torch.save(dict(ckpt, optimizer=3), tmp_path / 'bad_optim.pth')
    cases['bad_optim.pth'] = 'has a malformed `optimizer`'
    for name, reason in cases.items():
        path = str(tmp_path / name)
        with pytest.raises(CheckpointReadError) as info:
            check_resume_checkpoint(path)
        assert info.value.path == path, name
        assert info.value.reason == reason, name
        assert str(info.value) == f'{path}: {reason}', name


def test_check_resume_checkpoint_legacy_format(run, tmp_path):
    """torch's pre-zip format is read (fully, not memory-mapped)."""
    ckpt = load_checkpoint(run / 'iter_2.pth')
    torch.save(ckpt,
               tmp_path / 'legacy.pth',
               _use_new_zipfile_serialization=False)
    check_resume_checkpoint(str(tmp_path / 'legacy.pth'))


def test_check_resume_checkpoint_refuses_unsafe(tmp_path):
    marker = tmp_path / 'MARKER'
    _save_evil(tmp_path / 'evil.pth', marker)
    with pytest.raises(UnsafeCheckpointError, match='`posix.system`'):
        check_resume_checkpoint(str(tmp_path / 'evil.pth'))
    # Protocol 4: the weights-only unpickler stops at an opcode it does not
    # support, before reaching `os.system`: refused as well.
    _save_evil(tmp_path / 'evil4.pth', marker, pickle_protocol=4)
    with pytest.raises(UnsafeCheckpointError, match='`an unsupported object`'):
        check_resume_checkpoint(str(tmp_path / 'evil4.pth'))
    assert not marker.exists()


# --------------------------------------------------------------- auto mode
def test_auto_last_checkpoint_names_deleted_file(run, tmp_path, log):
    work = _copy_run(run, tmp_path / 'w')
    os.remove(work / 'iter_4.pth')
    logger, records = log
    assert find_resume_checkpoint(str(work),
                                  logger) == str(work / 'iter_2.pth')
    assert records.warnings() == [
        f'Auto-resume: skipped {work}/iter_4.pth: it does not exist.',
        f'Auto-resume: resuming from {work}/iter_2.pth (skipped 1 file(s), '
        'see above).'
    ]


def test_auto_prefers_last_checkpoint_without_warnings(run, tmp_path, log):
    work = _copy_run(run, tmp_path / 'w')
    (work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
    logger, records = log
    assert find_resume_checkpoint(str(work),
                                  logger) == str(work / 'iter_2.pth')
    assert records.records == [
        (logging.INFO, f'Auto-resume: resuming from {work}/iter_2.pth.')
    ]


def test_auto_all_corrupt_starts_from_scratch(run, tmp_path, log):
    work = _copy_run(run, tmp_path / 'w')
    _truncate(work / 'iter_4.pth')
    (work / 'iter_2.pth').write_bytes(b'')
    shutil.copy(run / 'iter_2.pth', work / 'best_loss_iter_2.pth')
    logger, records = log
    cfg = Config(dict(work_dir=str(work), resume=True, load_from=None))
    resolve_resume(cfg, logger)
    assert cfg.resume is False and cfg.load_from is None
    assert records.warnings() == [
        f'Auto-resume: skipped {work}/iter_4.pth: it {TRUNCATED}.',
        f'Auto-resume: skipped {work}/iter_2.pth: it is empty (0 bytes; an '
        'interrupted write?).',
        f'Auto-resume: no usable checkpoint found in {work} (skipped 2: '
        'iter_4.pth, iter_2.pth; see the warnings above), starting from '
        'scratch. Not tried: best_loss_iter_2.pth (best-metric checkpoints '
        'have no optimizer or scheduler state; pass one with `--resume PATH` '
        'to resume from it anyway).'
    ]


def test_auto_skips_unsafe_loudly_and_never_runs_it(run, tmp_path, log):
    work = _copy_run(run, tmp_path / 'w')
    marker = tmp_path / 'MARKER'
    _save_evil(work / 'iter_4.pth', marker)
    logger, records = log
    assert find_resume_checkpoint(str(work),
                                  logger) == str(work / 'iter_2.pth')
    first = records.warnings()[0]
    assert first.startswith(
        f'Auto-resume: skipped {work}/iter_4.pth: REFUSED as unsafe, nothing '
        f"of it was unpickled. Refusing to load checkpoint '{work}/iter_4.pth'"
        ": it pickles `posix.system`")
    assert len(records.warnings()) == 2
    assert not marker.exists()


def test_not_resuming_leaves_cfg_alone(tmp_path, log):
    logger, records = log
    cfg = Config(dict(work_dir=str(tmp_path), resume=False, load_from='x'))
    resolve_resume(cfg, logger)
    assert cfg.resume is False and cfg.load_from == 'x'
    assert records.records == []


# ----------------------------------------------------------- explicit mode
def test_explicit_corrupt_names_file_and_older_one(run, tmp_path, log):
    work = _copy_run(run, tmp_path / 'w')
    _truncate(work / 'iter_4.pth')
    logger, records = log
    cfg = Config(
        dict(work_dir=str(tmp_path / 'other'),
             resume=True,
             load_from=str(work / 'iter_4.pth')))
    with pytest.raises(CheckpointReadError) as info:
        resolve_resume(cfg, logger)
    assert str(info.value) == (
        f'Cannot resume from {work}/iter_4.pth: it {TRUNCATED}. Pass another '
        f'checkpoint, e.g. `--resume {work}/iter_2.pth` (the newest readable '
        f'checkpoint in {work}), or `--resume` without a path to resume from '
        'the newest readable checkpoint of the work dir.')
    assert info.value.path == str(work / 'iter_4.pth')
    assert isinstance(info.value, OSError)
    assert records.records == []


def test_explicit_corrupt_without_readable_sibling(tmp_path):
    (tmp_path / 'iter_4.pth').write_bytes(b'')
    (tmp_path / 'iter_2.pth').write_bytes(bytes(10))
    cfg = Config(
        dict(work_dir=str(tmp_path),
             resume=True,
             load_from=str(tmp_path / 'iter_4.pth')))
    with pytest.raises(CheckpointReadError) as info:
        resolve_resume(cfg)
    assert str(info.value) == (
        f'Cannot resume from {tmp_path}/iter_4.pth: it is empty (0 bytes; an '
        'interrupted write?). There is no other readable checkpoint in '
        f'{tmp_path}: pass another checkpoint, or `--resume` without a path '
        'to resume from the newest readable checkpoint of the work dir (or '
        'start from scratch when it has none).')


def test_explicit_unsafe_is_refused_and_never_run(run, tmp_path):
    work = _copy_run(run, tmp_path / 'w')
    marker = tmp_path / 'MARKER'
    _save_evil(work / 'evil.pth', marker)
    cfg = Config(
        dict(work_dir=str(work), resume=True,
             load_from=str(work / 'evil.pth')))
    with pytest.raises(UnsafeCheckpointError) as info:
        resolve_resume(cfg)
    msg = str(info.value)
    assert msg.startswith(f'Cannot resume from {work}/evil.pth: Refusing to '
                          f"load checkpoint '{work}/evil.pth': it pickles "
                          '`posix.system`')
    assert msg.endswith(f'`--resume {work}/iter_4.pth` (the newest readable '
                        f'checkpoint in {work}), or `--resume` without a path '
                        'to resume from the newest readable checkpoint of the '
                        'work dir.')
    assert not marker.exists()


def test_explicit_valid_is_kept(run, tmp_path, log):
    logger, records = log
    cfg = Config(
        dict(work_dir=str(tmp_path),
             resume=True,
             load_from=str(run / 'iter_2.pth')))
    resolve_resume(cfg, logger)
    assert cfg.resume is True and cfg.load_from == str(run / 'iter_2.pth')
    assert records.records == []


# ------------------------------------------------------ tools/train.py runs
def test_train_resume_on_empty_work_dir(tiny_demo_data, tmp_path):
    """The warning reaches the run's log file; MMEngine's `... None` is
    gone; training starts at iteration 1."""
    _train(tmp_path, tiny_demo_data, '--resume')
    text = _log_text(tmp_path)
    assert (f'WARNING - Auto-resume: no checkpoint found in {tmp_path}, '
            'starting from scratch.') in text
    assert MMENGINE_NONE not in text and 'resumed epoch' not in text
    assert 'Iter(train) [1/4]' in text
    assert load_checkpoint(tmp_path / 'iter_4.pth')['meta']['iter'] == 4


def test_train_explicit_corrupt_path_fails(run, tiny_demo_data, tmp_path):
    work = _copy_run(run, tmp_path / 'w')
    _truncate(work / 'iter_4.pth')
    with pytest.raises(CheckpointReadError,
                       match=f'`--resume {work}/iter_2.pth`'):
        _train(tmp_path / 'other', tiny_demo_data, '--resume',
               str(work / 'iter_4.pth'))
    assert not (tmp_path / 'other' / 'iter_4.pth').exists()


def test_train_resume_skips_truncated_and_unsafe(run, tiny_demo_data, tmp_path,
                                                 console):
    """The newest checkpoint truncated (``last_checkpoint`` names it), an
    unsafe ``iter_3.pth``: ``tools/train.py --resume`` continues from
    ``iter_2.pth``, warns about both on the console and in the log file,
    and the unsafe pickle never runs."""
    work = _copy_run(run, tmp_path / 'w')
    _truncate(work / 'iter_4.pth')
    marker = tmp_path / 'MARKER'
    _save_evil(work / 'iter_3.pth', marker)
    _train(work, tiny_demo_data, '--resume')
    expected = [
        f'WARNING - Auto-resume: skipped {work}/iter_4.pth: it {TRUNCATED}.',
        f'WARNING - Auto-resume: skipped {work}/iter_3.pth: REFUSED as '
        'unsafe, nothing of it was unpickled.',
        f'WARNING - Auto-resume: resuming from {work}/iter_2.pth (skipped 2 '
        'file(s), see above).',
        f'Load checkpoint from {work}/iter_2.pth',
        'resumed epoch: 0, iter: 2',
        'Iter(train) [3/4]',
    ]
    for text in (console.readouterr().out, _log_text(work)):
        at = [text.find(line) for line in expected]
        assert -1 not in at, [e for e, i in zip(expected, at) if i < 0]
        assert at == sorted(at)
        assert MMENGINE_NONE not in text
        assert 'Iter(train) [2/4]' not in text
    assert not marker.exists()
    assert load_checkpoint(work / 'iter_4.pth')['meta']['iter'] == 4
