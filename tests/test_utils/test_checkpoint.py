# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``mmalfm/utils/checkpoint.py``: MMEngine 0.10.7 checkpoints load
under torch >= 2.6 with ``weights_only=True`` and an allow-list, and nothing
else does."""
import pickle
import time

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from torch import nn
from torch.utils.data import Dataset

import mmalfm  # noqa: F401  (registers the allow-list and the loader)
from mmalfm.utils import UnsafeCheckpointError, safe_load
from mmalfm.utils.checkpoint import (_history_buffer_getattr,
                                     _load_from_local,
                                     safe_checkpoint_globals)

STATISTICS = ('min', 'max', 'current', 'mean')

# Side effects of unpickling a malicious checkpoint land here.
SIDE_EFFECTS = []


def record_side_effect(value):
    """A module-level callable a malicious pickle tries to call."""
    SIDE_EFFECTS.append(value)
    return value


class NotAllowListed:
    """A plain class of this test module: never allow-listed."""

    def __init__(self, value=1):
        self.value = value


class CallsSideEffect:
    """Unpickles by calling :func:`record_side_effect`."""

    def __reduce__(self):
        return (record_side_effect, ('unpickled!', ))


class GetattrOn:
    """Unpickles as ``getattr(obj, name)`` (``builtins.getattr``)."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


def _dotted(obj) -> str:
    return f'{obj.__module__}.{obj.__qualname__}'


def _allow_listed_names() -> set:
    """Pickled names (``module.qualname``) of mmalfm's allow-list."""
    return {
        item[1] if isinstance(item, tuple) else _dotted(item)
        for item in safe_checkpoint_globals()
    }


def _unsafe_globals(path) -> list:
    """Globals of ``path`` outside torch's *default* allow-list, i.e. with
    the user allow-list emptied for the call (and restored afterwards)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    finally:
        torch.serialization.add_safe_globals(saved)


def _buffer(values) -> HistoryBuffer:
    buffer = HistoryBuffer()
    for value in values:
        buffer.update(value)
    return buffer


def _mmengine_like_checkpoint() -> dict:
    """A checkpoint with everything MMEngine 0.10.7 pickles besides tensors:
    the message hub state (``HistoryBuffer``), NumPy scalars and arrays."""
    hub = MessageHub(f'test_checkpoint_{time.time()}')
    for loss in (4.0, 2.0, 3.0):
        hub.update_scalar('train/loss', loss)
    hub.update_scalar('train/lr', 0.1)
    hub.update_info('iter', 3)
    return dict(
        meta=dict(
            epoch=1,
            iter=3,
            seed=np.int64(3),
            score=np.float64(1.5),
            half=np.float32(0.25),
            flag=np.bool_(True),
            array=np.arange(6, dtype=np.float64).reshape(2, 3),
            int_array=np.array([[1, 2], [3, 4]], dtype=np.int64),
            bytes_array=np.array([7, 8, 9], dtype=np.uint8),
            buffer=_buffer([1.0, 2.0, 6.0])),
        state_dict=nn.Linear(3, 2).state_dict(),
        message_hub=hub.state_dict())


def _assert_same_checkpoint(loaded: dict, expected: dict) -> None:
    meta, want = loaded['meta'], expected['meta']
    assert meta['epoch'] == 1 and meta['iter'] == 3
    for key in ('seed', 'score', 'half', 'flag'):
        assert type(meta[key]) is type(want[key]), key
        assert meta[key] == want[key], key
    for key in ('array', 'int_array', 'bytes_array'):
        assert meta[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(meta[key], want[key])
    # HistoryBuffer: data and statistics methods (restored through the
    # restricted getattr) work after loading.
    buffer = meta['buffer']
    assert type(buffer) is HistoryBuffer
    np.testing.assert_array_equal(buffer.data[0], [1.0, 2.0, 6.0])
    np.testing.assert_array_equal(buffer.data[1], [1, 1, 1])
    assert buffer.mean() == 3.0
    assert buffer.min() == 1.0 and buffer.max() == 6.0
    assert buffer.current() == 6.0
    assert buffer.statistics('mean', 2) == 4.0
    for name in STATISTICS:
        assert buffer._statistics_methods[name] is getattr(HistoryBuffer, name)
    hub_state = loaded['message_hub']
    loss = hub_state['log_scalars']['train/loss']
    assert type(loss) is HistoryBuffer
    np.testing.assert_array_equal(loss.data[0], [4.0, 2.0, 3.0])
    assert loss.mean() == 3.0 and loss.current() == 3.0
    assert hub_state['runtime_info']['iter'] == 3
    # Restoring a message hub from it works as after a resume.
    hub = MessageHub(f'test_checkpoint_restored_{time.time()}')
    hub.load_state_dict(hub_state)
    assert hub.get_scalar('train/loss').mean() == 3.0
    assert hub.get_info('iter') == 3
    assert set(loaded['state_dict']) == {'weight', 'bias'}
    for key, value in expected['state_dict'].items():
        assert torch.equal(loaded['state_dict'][key], value)


@pytest.fixture
def mmengine_checkpoint(tmp_path):
    checkpoint = _mmengine_like_checkpoint()
    path = tmp_path / 'mmengine_like.pth'
    torch.save(checkpoint, path)
    return path, checkpoint


@pytest.fixture
def restore_default_scope():
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


# --------------------------------------------------------------------------
# (a) MMEngine checkpoints load
# --------------------------------------------------------------------------
def test_checkpoint_really_needs_the_allow_list(mmengine_checkpoint):
    """Guards the premise of this module: without mmalfm's allow-list,
    torch refuses this checkpoint under ``weights_only=True``."""
    path, _ = mmengine_checkpoint
    unsafe = _unsafe_globals(path)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    assert 'builtins.getattr' in unsafe
    assert any(name.endswith('multiarray._reconstruct') for name in unsafe)
    assert any(name.endswith('multiarray.scalar') for name in unsafe)
    assert set(unsafe) <= _allow_listed_names(), (
        f'not allow-listed: {sorted(set(unsafe) - _allow_listed_names())}; '
        f'all: {unsafe}')


def test_safe_load(mmengine_checkpoint):
    path, expected = mmengine_checkpoint
    _assert_same_checkpoint(safe_load(str(path)), expected)
    _assert_same_checkpoint(
        safe_load(str(path), map_location='cpu'), expected)


def test_checkpoint_loader_routes_local_files_to_safe_load(
        mmengine_checkpoint):
    path, expected = mmengine_checkpoint
    assert CheckpointLoader._get_checkpoint_loader(
        str(path)) is _load_from_local
    _assert_same_checkpoint(
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu'),
        expected)


def test_mmengine_load_checkpoint(mmengine_checkpoint):
    path, expected = mmengine_checkpoint
    model = nn.Linear(3, 2)
    loaded = load_checkpoint(model, str(path), map_location='cpu')
    _assert_same_checkpoint(loaded, expected)
    for key, value in expected['state_dict'].items():
        assert torch.equal(model.state_dict()[key], value)


def test_safe_load_missing_file(tmp_path):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_load(str(missing))


def test_safe_load_uses_weights_only(tmp_path):
    calls = []

    def loader(filename, map_location=None, weights_only=None):
        calls.append((filename, map_location, weights_only))
        return 'loaded'

    path = tmp_path / 'x.pth'
    torch.save({'a': 1}, path)
    assert safe_load(str(path), map_location='cpu', loader=loader) == 'loaded'
    assert calls == [(str(path), 'cpu', True)]


def test_allow_list_has_no_generic_callables():
    """Only the named MMEngine/NumPy objects; in particular the builtin
    ``getattr`` is replaced by the restricted stand-in."""
    names = _allow_listed_names()
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert 'builtins.getattr' in names
    objects = {
        item[1] if isinstance(item, tuple) else _dotted(item):
        item[0] if isinstance(item, tuple) else item
        for item in safe_checkpoint_globals()
    }
    assert objects['builtins.getattr'] is _history_buffer_getattr
    assert getattr not in objects.values()
    # ``bytes`` is a stand-in too: only the no-argument call (empty buffer).
    assert objects['builtins.bytes'] is not bytes
    assert objects['builtins.bytes']() == b''
    with pytest.raises(pickle.UnpicklingError):
        objects['builtins.bytes'](10**9)
    for forbidden in ('builtins.eval', 'builtins.exec', 'os.system',
                      'builtins.__import__', 'numpy.load',
                      'numpy.lib.npyio.load'):
        assert forbidden not in names
    for name in names:
        assert name.startswith(('numpy.', 'mmengine.logging.history_buffer.',
                                'builtins.getattr', 'builtins.bytes')), name


# --------------------------------------------------------------------------
# (b) Anything else is refused, naming the class and the file
# --------------------------------------------------------------------------
def test_unknown_class_is_refused(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save(dict(meta=dict(thing=NotAllowListed(3))), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(str(path))
    message = str(info.value)
    assert _dotted(NotAllowListed) in message
    assert str(path) in message
    assert isinstance(info.value, pickle.UnpicklingError)


def test_unknown_class_is_refused_through_mmengine(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save(dict(state_dict={}, meta=dict(thing=NotAllowListed())), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        CheckpointLoader.load_checkpoint(str(path))
    assert _dotted(NotAllowListed) in str(info.value)
    assert str(path) in str(info.value)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(nn.Linear(3, 2), str(path))


def test_malicious_callable_is_never_called(tmp_path):
    path = tmp_path / 'malicious.pth'
    torch.save(dict(state_dict={}, payload=CallsSideEffect()), path)
    SIDE_EFFECTS.clear()
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(str(path))
    assert SIDE_EFFECTS == []
    assert _dotted(record_side_effect) in str(info.value)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------
# (c) The restricted getattr
# --------------------------------------------------------------------------
@pytest.mark.parametrize('name', STATISTICS)
def test_restricted_getattr_resolves_statistics_methods(name):
    assert _history_buffer_getattr(HistoryBuffer,
                                   name) is getattr(HistoryBuffer, name)


@pytest.mark.parametrize('name', STATISTICS)
def test_restricted_getattr_before_any_history_buffer_exists(
        name, monkeypatch):
    # ``_statistics_methods`` is filled lazily by ``HistoryBuffer()``; a
    # fresh process loading a checkpoint may not have created one yet.
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods', {})
    assert _history_buffer_getattr(HistoryBuffer,
                                   name) is getattr(HistoryBuffer, name)


@pytest.mark.parametrize(
    'obj, name', [
        (np.ndarray, 'min'),
        (np.ndarray, 'x'),
        (HistoryBuffer(), 'min'),
        (torch, 'load'),
        (pickle, 'loads'),
        (HistoryBuffer, 'no_such_attribute'),
        (HistoryBuffer, '_statistics_methods'),
    ],
    ids=['ndarray.min', 'ndarray.x', 'instance.min', 'torch.load',
         'pickle.loads', 'missing', 'class-dict'])
def test_restricted_getattr_refuses(obj, name):
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        _history_buffer_getattr(obj, name)


_NOT_STATISTICS = ['__init__', '__class__', '__subclasses__', '__reduce_ex__',
                   'update', 'register_statistics']


@pytest.mark.parametrize('name', [
    pytest.param(name)
    for name in _NOT_STATISTICS
])
def test_restricted_getattr_refuses_other_history_buffer_attributes(name):
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        _history_buffer_getattr(HistoryBuffer, name)


def test_crafted_getattr_pickle_is_refused(tmp_path):
    # A getattr on an allow-listed object other than HistoryBuffer.
    path = tmp_path / 'getattr.pth'
    torch.save(dict(x=GetattrOn(np.ndarray, 'x')), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_load(str(path))
    assert 'getattr' in str(info.value) and str(path) in str(info.value)
    path = tmp_path / 'getattr_tobytes.pth'
    torch.save(dict(x=GetattrOn(np.ndarray, 'tobytes')), path)
    with pytest.raises(UnsafeCheckpointError):
        safe_load(str(path))


def test_crafted_getattr_pickle_of_a_statistics_method_loads(tmp_path):
    path = tmp_path / 'getattr_mean.pth'
    torch.save(dict(x=GetattrOn(HistoryBuffer, 'mean')), path)
    assert safe_load(str(path))['x'] is HistoryBuffer.mean


def test_crafted_getattr_pickle_of_history_buffer_init_is_refused(tmp_path):
    path = tmp_path / 'getattr_init.pth'
    torch.save(dict(x=GetattrOn(HistoryBuffer, '__init__')), path)
    with pytest.raises(UnsafeCheckpointError):
        safe_load(str(path))


# --------------------------------------------------------------------------
# Global state and edge cases
# --------------------------------------------------------------------------
def test_safe_load_keeps_the_import_time_allow_list(mmengine_checkpoint):
    path, expected = mmengine_checkpoint
    # The state `import mmalfm` establishes (whatever earlier tests did).
    torch.serialization.add_safe_globals(safe_checkpoint_globals())
    try:
        _assert_same_checkpoint(
            torch.load(str(path), weights_only=True), expected)
        safe_load(str(path))
        assert HistoryBuffer in torch.serialization.get_safe_globals()
        _assert_same_checkpoint(
            torch.load(str(path), weights_only=True), expected)
    finally:
        torch.serialization.add_safe_globals(safe_checkpoint_globals())


@pytest.mark.parametrize('value', [np.zeros((0, 3)), HistoryBuffer()],
                         ids=['empty-array', 'empty-history-buffer'])
def test_empty_numpy_arrays_load(tmp_path, value):
    path = tmp_path / 'empty.pth'
    torch.save(dict(meta=dict(value=value)), path)
    loaded = safe_load(str(path))['meta']['value']
    assert type(loaded) is type(value)


# --------------------------------------------------------------------------
# (d) A real MMEngine runner checkpoint: save, then resume
# --------------------------------------------------------------------------
class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - labels)**2).mean())
        return out


class ToyDataset(Dataset):

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(8, 2, generator=generator)
        self.y = torch.randn(8, 1, generator=generator)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return dict(inputs=self.x[index], labels=self.y[index])


class CountTrainIters(Hook):

    def __init__(self):
        self.count = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.count += 1


def _toy_runner(work_dir, **kwargs) -> Runner:
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'toy_{time.time()}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=4,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=2, val_interval=100),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=1, by_epoch=False)),
        default_scope='mmengine',
        **kwargs)


def test_runner_checkpoint_round_trip(tmp_path, restore_default_scope):
    first = _toy_runner(tmp_path)
    first.train()
    path = tmp_path / 'iter_2.pth'
    assert path.is_file()

    # Everything MMEngine 0.10.7 pickles under torch 2.13 is allow-listed.
    unsafe = _unsafe_globals(path)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    assert set(unsafe) <= _allow_listed_names(), (
        f'not allow-listed: {sorted(set(unsafe) - _allow_listed_names())}; '
        f'all: {unsafe}')

    saved = safe_load(str(path))
    assert saved['meta']['iter'] == 2
    counter = CountTrainIters()
    second = _toy_runner(
        tmp_path, resume=True, load_from=str(path), custom_hooks=[counter])
    second.train()
    assert second.iter == 2
    assert counter.count == 0  # resumed at the end: nothing left to train
    for key, value in saved['state_dict'].items():
        assert torch.equal(second.model.state_dict()[key], value), key
    momentum = second.optim_wrapper.optimizer.state_dict()['state']
    assert momentum and all(
        torch.equal(momentum[i]['momentum_buffer'],
                    saved['optimizer']['state'][i]['momentum_buffer'])
        for i in momentum)
    loss = second.message_hub.get_scalar('train/loss')
    saved_loss = saved['message_hub']['log_scalars']['train/loss']
    np.testing.assert_array_equal(loss.data[0], saved_loss.data[0])
