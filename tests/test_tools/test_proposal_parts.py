# Copyright (c) mmalfm contributors. All rights reserved.
"""Selective search on many machines: parts, the Slurm script, merging,
and resuming from an existing output (tiny demo images, in process)."""
import json
import os
import os.path as osp
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO

from mmalfm.apis import merge_proposals as merge_tool
from mmalfm.apis import selective_search as ss_tool
from mmalfm.datasets.proposals import (PartError, convert_proposals,
                                       part_range, resolve_part)

TOOL = 'tools/data/selective_search.py'


@pytest.fixture
def folder(tiny_demo_data, tmp_path) -> Path:
    """12 images in two folders: 10 demo images, a flat one (no proposal
    survives the filter: empty) and an unreadable file (failed)."""
    root = tmp_path / 'imgs'
    src = sorted((Path(tiny_demo_data) / 'coco' / 'train2017').glob('*.jpg'))
    for i, name in enumerate(src[:10]):
        sub = root / ('a' if i < 5 else 'b')
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(name, sub / name.name)
    cv2.imwrite(str(root / 'a' / 'flat.png'),
                np.full((30, 30, 3), 128, np.uint8))
    (root / 'b' / 'bad.jpg').write_text('not an image')
    return root


def _ss(capsys, *argv) -> str:
    assert ss_tool.main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def _merge(capsys, *argv):
    code = merge_tool.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _bytes(path) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def _part(out, index, num_parts=3) -> Path:
    return Path(str(out)[:-len('.json')] +
                f'.part{index:05d}-of-{num_parts:05d}.json')


@pytest.fixture
def no_slurm(monkeypatch):
    for key in list(os.environ):
        if key.startswith('SLURM_'):
            monkeypatch.delenv(key)


def test_resolve_part_and_partition(no_slurm):
    assert resolve_part() is None
    assert resolve_part(3, 2) == (3, 2)
    # an array is the partition: ids need not start at 0
    env = dict(SLURM_ARRAY_TASK_COUNT='4', SLURM_ARRAY_TASK_ID='7',
               SLURM_ARRAY_TASK_MIN='5')
    assert resolve_part(environ=env) == (4, 2)
    assert resolve_part(environ=dict(env, SLURM_ARRAY_TASK_STEP='2',
                                     SLURM_ARRAY_TASK_ID='9')) == (4, 2)
    with pytest.raises(PartError, match='contiguous range'):
        resolve_part(environ=dict(env, SLURM_ARRAY_TASK_ID='10'))
    # with --num-parts, the ids are the part numbers (redo: --array=3,7)
    assert resolve_part(10, environ=dict(env, SLURM_ARRAY_TASK_ID='7')) == (
        10, 7)
    with pytest.raises(PartError, match=r'part 10 is not in \[0, 10\) '
                       r'\(SLURM_ARRAY_TASK_ID.*--array=0-9'):
        resolve_part(10, environ=dict(env, SLURM_ARRAY_TASK_ID='10'))
    with pytest.raises(PartError, match='needs --part'):
        resolve_part(3, environ={})
    with pytest.raises(PartError, match='--part needs --num-parts'):
        resolve_part(part=1, environ={})
    with pytest.raises(PartError, match=r'part 3 is not in \[0, 3\)$'):
        resolve_part(3, 3)
    # contiguous blocks covering the list once, sizes within one
    for n_items, n_parts in ((12, 3), (10, 3), (2, 5), (1280, 7)):
        ranges = [part_range(n_items, n_parts, i) for i in range(n_parts)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n_items
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        sizes = [e - s for s, e in ranges]
        assert max(sizes) - min(sizes) <= 1
    with pytest.raises(SystemExit):  # the tool refuses, naming the flag
        ss_tool.parse_args(['imgs', 'o.json', '--part', '1'])


def _slurm_commands(tmp_path, parts, src, out, *extra):
    """The per-task commands ``slurm_selective_search.sh`` submits (a fake
    ``sbatch`` records its arguments)."""
    fake = tmp_path / 'bin'
    fake.mkdir()
    record = tmp_path / 'sbatch_args.json'
    (fake / 'sbatch').write_text(
        '#!/usr/bin/env python3\nimport json, sys\n'
        f'json.dump(sys.argv[1:], open({str(record)!r}, "w"))\n')
    (fake / 'sbatch').chmod(0o755)
    env = dict(os.environ, PATH=f'{fake}:{os.environ["PATH"]}',
               CPUS_PER_TASK='1', PYTHON=sys.executable)
    subprocess.run(['bash', osp.join(REPO, 'tools/data/'
                                     'slurm_selective_search.sh'), 'cpu',
                    str(parts), str(src), str(out), *extra],
                   check=True, env=env, capture_output=True)
    args = json.loads(record.read_text())
    assert args[:2] == ['-p', 'cpu'] and f'--array=0-{parts - 1}' in args
    wrap = shlex.split(next(a for a in args if a.startswith('--wrap='))[7:])
    assert wrap[0].startswith('PYTHONPATH=') and wrap[1] == sys.executable
    assert wrap[3] == osp.join(REPO, TOOL)
    return wrap[4:]


def test_three_parts_merged_equal_one_run(folder, tmp_path, capsys,
                                          monkeypatch, no_slurm):
    single = tmp_path / 'single' / 'props.json'
    log = _ss(capsys, folder, single, '--nproc', 1)
    assert '12 images: skipped 0 done, 12 to process' in log
    meta = json.loads(single.read_text())['meta']
    assert (meta['num_empty'], meta['num_failed']) == (1, 1)

    # the Slurm script's array tasks (task id = part number), in process
    out = tmp_path / 'parts' / 'props.json'
    argv = _slurm_commands(tmp_path, 3, folder, out, '--filter',
                           'ratio3size0308post')
    assert argv == [str(folder), str(out), '--num-parts', '3', '--nproc',
                    '1', '--filter', 'ratio3size0308post']
    for task in (2, 0, 1):
        monkeypatch.setenv('SLURM_ARRAY_TASK_ID', str(task))
        monkeypatch.setenv('SLURM_ARRAY_TASK_COUNT', '3')
        log = _ss(capsys, *argv)
        assert f'part {task} of 3: images [{4 * task}, {4 * task + 4}) of ' \
            f'12 -> {_part(out, task)}' in log
        assert _part(out, task).is_file()
        assert Path(f'{_part(out, task)}.parts').is_dir()  # own shards
    assert not out.exists()

    code, log, err = _merge(capsys, out)
    assert code == 0, err
    assert 'wrote' in log and '12 images from 3 parts' in log
    assert _bytes(out) == _bytes(single)  # byte for byte

    # the same parts straight into a store (OUT without .json): the same
    # content
    store = tmp_path / 'parts' / 'props'
    code, _, err = _merge(capsys, store)
    assert code == 0, err
    assert (store / 'boxes.npy').is_file()
    convert_proposals(str(store), str(tmp_path / 'back.json'))
    assert _bytes(tmp_path / 'back.json') == _bytes(single)


def test_killed_part_resumes_to_the_same_bytes(folder, tmp_path, capsys,
                                               no_slurm):
    out = tmp_path / 'props.json'
    argv = [folder, out, '--num-parts', 3, '--part', 1, '--nproc', 1,
            '--flush-every', 1]
    _ss(capsys, *argv)
    whole = _bytes(_part(out, 1))
    shards = sorted(Path(f'{_part(out, 1)}.parts').glob('part-*.jsonl'))
    assert len(shards) == 4
    # "killed": no part file yet, one shard lost, one cut mid-line
    _part(out, 1).unlink()
    shards[1].unlink()
    text = shards[3].read_text()
    shards[3].write_text(text[:len(text) // 2])
    log = _ss(capsys, *argv)
    assert '4 images: skipped 2 done, 2 to process' in log
    assert 'reused' not in log
    assert _bytes(_part(out, 1)) == whole


def _three_parts(folder, out, capsys):
    for i in range(3):
        _ss(capsys, folder, out, '--num-parts', 3, '--part', i, '--nproc', 1)


def test_missing_duplicated_and_wrong_parts_are_named(folder, tmp_path,
                                                      capsys, no_slurm):
    out = tmp_path / 'props.json'
    _three_parts(folder, out, capsys)
    good = {i: _bytes(_part(out, i)) for i in range(3)}
    command = f'python {TOOL} {folder} {out} --num-parts 3 --part 2'

    # a missing part: named, with the command that redoes it
    _part(out, 2).unlink()
    code, _, err = _merge(capsys, out)
    assert code == 1 and not out.exists()
    assert f"1 of the 3 parts of '{out}' are missing: part 2 " \
        f"('{_part(out, 2)}'): `{command}`" in err
    _ss(capsys, *shlex.split(command)[2:], '--nproc', 1)  # as suggested
    assert _bytes(_part(out, 2)) == good[2]

    # the same part under two names
    twin = Path(str(out)[:-5] + '.part1-of-3.json')
    shutil.copy(_part(out, 1), twin)
    code, _, err = _merge(capsys, out)
    assert code == 1 and "part 1 of 3 is there twice: " in err
    assert str(twin) in err and str(_part(out, 1)) in err
    twin.unlink()

    # a copy of part 0 in place of part 1: part 0 twice, part 1 missing
    _part(out, 1).write_bytes(good[0])
    code, _, err = _merge(capsys, out)
    assert code == 1 and f"'{_part(out, 1)}' (part 1 of 3): it holds part " \
        '0 of 3 (a copied or renamed file' in err
    assert f'--num-parts 3 --part 1`, then merge again' in err

    # a part that lost an image
    record = json.loads(good[1])
    dropped = next(iter(record['images']))
    del record['images'][dropped]
    _part(out, 1).write_text(json.dumps(record))
    code, _, err = _merge(capsys, out)
    assert code == 1 and 'it does not hold exactly the 4 images of its ' \
        'block [4, 8) of the list (3 with boxes, empty or failed)' in err

    # a stale part of another partition next to them
    _part(out, 1).write_bytes(good[1])
    stale = _part(out, 0, 2)
    stale.write_bytes(good[0])
    code, _, err = _merge(capsys, out)
    assert code == 1 and 'several partitions' in err and 'N=2 (1 files)' \
        in err and 'N=3 (3 files)' in err
    code, _, err = _merge(capsys, out, '--num-parts', 3)
    assert code == 0, err
    stale.unlink()

    # other parameters (or environment)
    record = json.loads(good[2])
    record['meta']['versions']['numpy'] = '0.0'
    _part(out, 2).write_text(json.dumps(record))
    code, _, err = _merge(capsys, out)
    assert code == 1 and "its meta.versions is" in err
    assert '--allow-mixed-meta' in err
    code, _, err = _merge(capsys, out, '--allow-mixed-meta')
    assert code == 0, err
    mixed = json.loads(out.read_text())['meta']['mixed_meta']
    assert mixed['versions']['2']['numpy'] == '0.0'


def test_missing_images_are_filled_in_from_the_output(folder, tiny_demo_data,
                                                      tmp_path, capsys,
                                                      no_slurm):
    """Without the shard folder, re-running reuses the images of the
    existing output (JSON or store) and computes only the new one."""
    src = sorted((Path(tiny_demo_data) / 'coco' / 'train2017').glob('*.jpg'))
    for out in (tmp_path / 'props.json', tmp_path / 'props_store'):
        if (folder / 'c').exists():
            shutil.rmtree(folder / 'c')
        _ss(capsys, folder, out, '--nproc', 1)
        shutil.rmtree(f'{out}.parts')
        (folder / 'c').mkdir()
        shutil.copy(src[10], folder / 'c' / src[10].name)
        log = _ss(capsys, folder, out, '--nproc', 1)
        # 11 reused (the failed image is retried), the new one computed
        assert '13 images: skipped 11 done, 2 to process' in log
        assert f'11 reused from {out}' in log
        shards = list(Path(f'{out}.parts').glob('part-*.jsonl'))
        assert len(shards) == 1
        assert len(shards[0].read_text().splitlines()) == 2
        fresh = tmp_path / f'fresh_{out.name}.json'
        _ss(capsys, folder, fresh, '--nproc', 1)
        got = tmp_path / 'got.json'
        if out.suffix != '.json':
            convert_proposals(str(out), str(got))
        else:
            got = out
        assert _bytes(got) == _bytes(fresh)
    # other parameters: not reused
    log = _ss(capsys, folder, tmp_path / 'props.json', '--nproc', 1,
              '--filter', 'none', '--shard-dir', tmp_path / 'other')
    assert 'not reusing the images of' in log and 'other parameters' in log
    assert '13 images: skipped 0 done, 13 to process' in log
