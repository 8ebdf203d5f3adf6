# Copyright (c) mmalfm contributors. All rights reserved.
"""Every config's merged dict equals its recorded dump.

``tests/data/config_dumps/merged_configs.json`` holds the fully merged dict
(``Config.fromfile(path).to_dict()``, custom imports not run) of every
config under ``configs/`` and ``tests/data/configs/``, recorded before the
configs were restructured (commit ``0a85249``). A config's merged dict must
stay equal to its dump, value and type (``1`` is not ``1.0``; tuples read
as lists), so that moving blocks between ``_base_`` files cannot change what
a config runs. Changes made on purpose are declared, one line each, in
``tests/data/config_dumps/allowed_changes.py`` (``RENAMED_TYPES``,
``DELETED_KEYS``, ``ADDED_KEYS``, ``MOVED_TO_HEADS``). A failure names the config and every differing dotted
key with both values.

Every config needs a dump, except new files under a ``_base_/`` folder:
those are fragments that the configs inheriting them are checked through.
A recorded config whose file is gone fails too (configs are named by
tests, docs, metafiles and tools: do not rename them).

The file stores each dict or list below the top level of 64 or more JSON
characters once (``subtrees``, keyed by a hash of its JSON; referred to as
``{"$ref": <hash>}``), which keeps it small although most configs share
most of their keys. Re-record (every config, from the working tree) only
when a config is added or changed on purpose, and say so in the commit
message::

    MMALFM_RECORD_CONFIG_DUMPS=1 python -m pytest tests/test_config_dumps.py
"""
import copy
import fnmatch
import functools
import hashlib
import json
import os
import runpy
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIRS = (REPO / 'configs', REPO / 'tests' / 'data' / 'configs')
DUMPS = REPO / 'tests' / 'data' / 'config_dumps'
STORE = DUMPS / 'merged_configs.json'
ALLOWED = DUMPS / 'allowed_changes.py'
RECORD = os.environ.get('MMALFM_RECORD_CONFIG_DUMPS') == '1'
#: sub-dicts / sub-lists whose JSON has at least this many characters are
#: stored once in ``subtrees``
MIN_SHARED_CHARS = 64
#: how ``differences`` marks a key that one side does not have
ABSENT = '<absent>'


# ---------------------------------------------------------------- helpers
def _canonical(value: Any) -> str:
    """Deterministic compact JSON (sorted keys, tuples as lists)."""
    return json.dumps(value, sort_keys=True, separators=(',', ':'))


def merged_config(relpath: str) -> dict:
    """The merged dict of ``relpath`` (relative to the repository root) as
    JSON reads it back: tuples become lists, keys strings."""
    cfg = Config.fromfile(str(REPO / relpath), import_custom_modules=False)
    return json.loads(_canonical(cfg.to_dict()))


def config_files() -> List[str]:
    """Every ``*.py`` under the config folders, relative to the root."""
    return sorted(
        p.relative_to(REPO).as_posix() for root in CONFIG_DIRS
        for p in root.rglob('*.py'))


def is_fragment(relpath: str) -> bool:
    """A ``_base_`` file: checked through the configs that inherit it."""
    return '_base_' in Path(relpath).parts


def pack(configs: Dict[str, dict]) -> dict:
    """The store: each config's top-level keys with every dict / list of
    ``MIN_SHARED_CHARS`` or more JSON characters replaced by
    ``{"$ref": hash}`` and kept once in ``subtrees``."""
    subtrees = {}

    def intern(value):
        if isinstance(value, dict):
            value = {k: intern(v) for k, v in value.items()}
        elif isinstance(value, list):
            value = [intern(v) for v in value]
        else:
            return value
        text = _canonical(value)
        if len(text) < MIN_SHARED_CHARS:
            return value
        key = hashlib.sha1(text.encode()).hexdigest()[:12]
        subtrees[key] = value
        return {'$ref': key}

    packed = {
        path: {key: intern(value)
               for key, value in cfg.items()}
        for path, cfg in sorted(configs.items())
    }
    return dict(configs=packed, subtrees=subtrees)


def unpack(store: dict) -> Dict[str, dict]:
    """The inverse of :func:`pack`."""
    subtrees = store['subtrees']

    def expand(value):
        if isinstance(value, dict):
            if set(value) == {'$ref'}:
                return expand(subtrees[value['$ref']])
            return {k: expand(v) for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v) for v in value]
        return value

    return {path: expand(cfg) for path, cfg in store['configs'].items()}


@functools.lru_cache(maxsize=None)
def recorded() -> Dict[str, dict]:
    """The recorded dumps, by config path (empty when none are stored)."""
    if not STORE.exists():
        return {}
    return unpack(json.loads(STORE.read_text()))


def allowed_changes() -> Tuple[Dict[str, str], set]:
    """``(RENAMED_TYPES, DELETED_KEYS)`` of ``allowed_changes.py``."""
    spec = runpy.run_path(str(ALLOWED))
    return dict(spec['RENAMED_TYPES']), set(spec['DELETED_KEYS'])


def layout_changes() -> Tuple[set, set, Dict[str, Dict[str, str]]]:
    """``(ADDED_KEYS, MOVED_TO_HEADS, MOVED_KEYS)`` of
    ``allowed_changes.py``."""
    spec = runpy.run_path(str(ALLOWED))
    return (set(spec['ADDED_KEYS']), set(spec['MOVED_TO_HEADS']),
            dict(spec['MOVED_KEYS']))


def move_keys(cfg: dict, moves: Dict[str, str]) -> dict:
    """``cfg`` (a copy) with the value at each recorded dotted path of
    ``moves`` moved to its current path."""
    cfg = copy.deepcopy(cfg)
    for old, new in moves.items():
        *parents, leaf = old.split('.')
        node = cfg
        for key in parents:
            node = node[key]
        value = node.pop(leaf)
        *parents, leaf = new.split('.')
        node = cfg
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return cfg


def move_to_heads(cfg: dict, moved: set) -> dict:
    """``cfg`` with a ``model`` of a type in ``moved`` read through the
    class's ``legacy`` layout (flat keys -> ``model.heads``)."""
    model = cfg.get('model')
    if not isinstance(model, dict) or model.get('type') not in moved:
        return cfg
    import mmalfm.models  # noqa: F401 (registers the algorithms)
    from mmalfm.registry import MODELS
    layout = MODELS.get(model['type']).legacy
    return dict(cfg, model=json.loads(
        _canonical(layout.upgrade_config(model))))


def _walk(value: Any, path: str, visit) -> Any:
    """``value`` rebuilt bottom-up; ``visit(path, key, child)`` returns the
    new child, or ``ABSENT`` to drop a dict key."""
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            child_path = f'{path}.{key}' if path else key
            new = visit(child_path, key, child)
            if new is not ABSENT:
                out[key] = _walk(new, child_path, visit)
        return out
    if isinstance(value, list):
        return [
            _walk(visit(f'{path}.{i}', i, child), f'{path}.{i}', visit)
            for i, child in enumerate(value)
        ]
    return value


def apply_allowed(cfg: dict, renamed_types: Dict[str, str],
                  deleted_keys: set) -> dict:
    """``cfg`` with every key whose dotted path matches a pattern of
    ``deleted_keys`` dropped and every ``type`` named in ``renamed_types``
    renamed."""

    def visit(path, key, child):
        if any(fnmatch.fnmatchcase(path, p) for p in deleted_keys):
            return ABSENT
        if key == 'type' and isinstance(child, str):
            return renamed_types.get(child, child)
        return child

    return _walk(cfg, '', visit)


def differences(expected: Any, actual: Any, path: str = '') -> List[str]:
    """``'key: recorded ..., now ...'`` for every dotted key whose value
    (or type: ``1`` vs ``1.0``) differs, ``<absent>`` for a missing key."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in list(expected) + [k for k in actual if k not in expected]:
            out += differences(
                expected.get(key, ABSENT), actual.get(key, ABSENT),
                f'{path}.{key}' if path else key)
        return out
    if (isinstance(expected, list) and isinstance(actual, list)
            and len(expected) == len(actual)):
        out = []
        for i, (want, got) in enumerate(zip(expected, actual)):
            out += differences(want, got, f'{path}.{i}')
        return out
    if _canonical(expected) == _canonical(actual):
        return []
    return [f'{path}: recorded {_short(expected)}, now {_short(actual)}']


def _short(value: Any, limit: int = 300) -> str:
    text = value if value is ABSENT else _canonical(value)
    return text if len(text) <= limit else text[:limit] + '...'


def _format(store: dict) -> str:
    """The store as JSON with one line per config and per subtree, in a
    fixed order (small diffs when re-recorded)."""
    parts = []
    for name in ('configs', 'subtrees'):
        lines = [f'  {json.dumps(k)}: {_canonical(v)}'
                 for k, v in sorted(store[name].items())]
        parts.append(f' {json.dumps(name)}: {{\n' + ',\n'.join(lines) +
                     '\n }')
    return '{\n' + ',\n'.join(parts) + '\n}\n'


def _record() -> str:
    """Write the dumps of every config in the working tree."""
    configs = {path: merged_config(path) for path in config_files()}
    STORE.write_text(_format(pack(configs)))
    recorded.cache_clear()
    return (f'MMALFM_RECORD_CONFIG_DUMPS=1: wrote {len(configs)} configs '
            f'to {STORE.relative_to(REPO)} (not compared)')


# ------------------------------------------------------------------ tests
def _new_fragments() -> list:
    """``_base_`` files added since the recording: no dump of their own,
    checked through the configs that inherit them."""
    return sorted(p for p in config_files()
                  if p not in recorded() and is_fragment(p))


@pytest.mark.parametrize(
    'relpath',
    sorted((set(config_files()) | set(recorded())) - set(_new_fragments())))
def test_merged_config_unchanged(relpath):
    if RECORD:
        if not getattr(test_merged_config_unchanged, 'written', False):
            test_merged_config_unchanged.written = True
            note = _record()
            print('\n' + note)
            warnings.warn(note)
        return
    if relpath not in recorded():
        pytest.fail(f'{relpath} has no dump in {STORE.relative_to(REPO)}; '
                    'record it with MMALFM_RECORD_CONFIG_DUMPS=1 (see the '
                    'module docstring)')
    assert (REPO / relpath).exists(), (
        f'{relpath} is gone but recorded in {STORE.relative_to(REPO)}: '
        'configs are named by tests, docs, metafiles and tools; restore it '
        '(or re-record if it was removed on purpose)')
    renamed, deleted = allowed_changes()
    added, moved, moved_keys = layout_changes()
    moves = moved_keys.get(relpath, {})
    dropped = deleted | (added - set(moves.values()))
    want = move_to_heads(
        move_keys(apply_allowed(recorded()[relpath], renamed, dropped),
                  moves), moved)
    got = apply_allowed(merged_config(relpath), {}, dropped)
    diffs = differences(want, got)
    if diffs:
        pytest.fail(f'{relpath}: {len(diffs)} merged key(s) differ from the '
                    f'recorded dump (allowed changes: '
                    f'{ALLOWED.relative_to(REPO)}):\n  ' +
                    '\n  '.join(diffs[:60]) +
                    ('\n  ...' if len(diffs) > 60 else ''))


def test_new_fragments_are_inherited():
    """A new ``_base_`` fragment is named by some config (so the dumps of
    the configs inheriting it check it)."""
    texts = [(REPO / p).read_text() for p in config_files()]
    orphans = [p for p in _new_fragments()
               if not any(Path(p).name in t for t in texts)]
    assert not orphans, f'_base_ fragments no config inherits: {orphans}'


def test_allowed_changes_are_used():
    """Every declared change applies to some recorded config."""
    renamed, deleted = allowed_changes()
    if not recorded():
        pytest.skip('no dumps recorded yet')
    types, paths = set(), set()

    def visit(path, key, child):
        paths.add(path)
        if key == 'type' and isinstance(child, str):
            types.add(child)
        return child

    for cfg in recorded().values():
        _walk(cfg, '', visit)
    stale_types = sorted(set(renamed) - types)
    stale_keys = sorted(
        p for p in deleted if not fnmatch.filter(paths, p))
    assert not stale_types and not stale_keys, (
        f'{ALLOWED.relative_to(REPO)}: RENAMED_TYPES {stale_types} / '
        f'DELETED_KEYS {stale_keys} match no recorded config; fix or '
        'remove them')
    added, moved, moved_keys = layout_changes()
    for relpath, moves in moved_keys.items():
        assert relpath in recorded() and all(
            fnmatch.filter(paths, p) for p in moves), (
                f'MOVED_KEYS of {relpath} match no recorded key')
    assert moved <= types, f'MOVED_TO_HEADS {sorted(moved - types)} unused'
    stale_added = set(added)
    for path in config_files():  # until every added key is found
        current = set()
        _walk(merged_config(path), '',
              lambda p, k, c: current.add(p) or c)
        stale_added = {p for p in stale_added
                       if not fnmatch.filter(current, p)}
        if not stale_added:
            break
    assert not stale_added, f'ADDED_KEYS {sorted(stale_added)} match no ' \
        'config'


def test_move_to_heads():
    """A recorded flat SoCo model reads as the heads layout."""
    cfg = dict(model=dict(type='SoCo', backbone=dict(type='R'),
                          projector=dict(type='P'), level_thresholds=[1]),
               other=1)
    got = move_to_heads(cfg, {'SoCo'})
    assert got['other'] == 1
    assert got['model'] == dict(
        type='SoCo', backbone=dict(type='R'),
        heads=dict(region=dict(
            type='SoCoRegionHead', level_thresholds=[1],
            embedding=dict(type='RoIEmbedding', projector=dict(type='P')))))
    assert move_to_heads(cfg, set()) is cfg


def test_pack_round_trip():
    """The store keeps every value; shared subtrees are stored once."""
    runtime = dict(hooks=[dict(type='LoggerHook', interval=50)] * 3,
                   env_cfg=dict(cudnn_benchmark=False, seed=None))
    configs = {
        'a.py': dict(model=dict(type='A', depth=50), runtime=runtime),
        'b.py': dict(model=dict(type='B', depth=18.0),
                     runtime=copy.deepcopy(runtime)),
    }
    store = pack(configs)
    assert unpack(json.loads(json.dumps(store))) == configs
    subtrees = store['subtrees']
    a, b = store['configs']['a.py'], store['configs']['b.py']
    # short values stay inline; runtime and its hook list are stored once
    assert a['model'] == dict(type='A', depth=50)
    assert a['runtime'] == b['runtime']
    assert subtrees[a['runtime']['$ref']]['hooks'] == {
        '$ref': hashlib.sha1(_canonical(runtime['hooks']).encode()
                             ).hexdigest()[:12]
    }
    assert len(subtrees) == 2


def test_differences_names_the_key():
    """Changed, missing and extra keys are named with both values."""
    expected = dict(
        model=dict(type='SoCo', view_pairs=[[0, 1]], lr=1),
        train_pipeline=[dict(type='A'), dict(type='B', size=64)])
    actual = dict(
        model=dict(type='SoCo', lr=1.0, tau=0.2),
        train_pipeline=[dict(type='A'), dict(type='B', size=32)])
    assert differences(expected, actual) == [
        'model.view_pairs: recorded [[0,1]], now <absent>',
        'model.lr: recorded 1, now 1.0',
        'model.tau: recorded <absent>, now 0.2',
        'train_pipeline.1.size: recorded 64, now 32',
    ]
    assert differences(expected, copy.deepcopy(expected)) == []
    assert differences(dict(a=[1, 2]), dict(a=[1])) == [
        'a: recorded [1,2], now [1]'
    ]


def test_apply_allowed():
    """Deleted keys go from any depth, renamed types everywhere."""
    cfg = dict(
        model=dict(
            type='OldHead', view_pairs=[[0, 1]],
            head=dict(type='OldHead', num_views=2)),
        custom_hooks=[dict(type='OldHead', num_views=3)])
    got = apply_allowed(cfg, {'OldHead': 'NewHead'},
                        {'model.view_pairs', '*.num_views'})
    assert got == dict(
        model=dict(type='NewHead', head=dict(type='NewHead')),
        custom_hooks=[dict(type='NewHead')])
    assert apply_allowed(cfg, {}, set()) == cfg
