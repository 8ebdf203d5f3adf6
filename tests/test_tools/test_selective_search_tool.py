# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``tools/data/selective_search.py`` (offline proposals CLI)."""
import glob
import json
import os
import os.path as osp
import re
import shlex
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PYTHON, run_tool

from mmalfm.apis import selective_search as ss_tool
from mmalfm.datasets import ProposalDataset, proposal_dataset
from mmalfm.datasets.proposals import load_proposals
from mmalfm.datasets.proposals.hints import TOOL, TOOL_DEFAULTS



def _main(capsys, *argv) -> str:
    """Run the tool in this process; return its stdout."""
    assert ss_tool.main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def _read(path) -> dict:
    with open(path) as f:
        return json.load(f)


def _shard_paths(folder) -> list:
    """Image keys of each shard file, in shard order."""
    out = []
    for name in sorted(glob.glob(osp.join(folder, 'part-*.jsonl'))):
        with open(name) as f:
            out.append([json.loads(line)['path'] for line in f])
    return out


@pytest.fixture
def folder(tiny_demo_data, tmp_path) -> Path:
    """``a/`` with two demo images; ``b/`` is added by the tests."""
    root = tmp_path / 'imgs'
    (root / 'a').mkdir(parents=True)
    src = sorted((Path(tiny_demo_data) / 'coco' / 'train2017').glob('*.jpg'))
    for name in src[:2]:
        shutil.copy(name, root / 'a' / name.name)
    return root


def _add_b(root: Path, tiny_demo_data: str) -> None:
    """One more demo image, a flat 30x30 image (no proposal survives the
    filter) and an unreadable file."""
    (root / 'b').mkdir()
    src = sorted((Path(tiny_demo_data) / 'coco' / 'train2017').glob('*.jpg'))
    shutil.copy(src[2], root / 'b' / src[2].name)
    cv2.imwrite(str(root / 'b' / 'flat.png'),
                np.full((30, 30, 3), 128, np.uint8))
    (root / 'b' / 'bad.jpg').write_text('this is not an image')


def test_resume_skips_done_images_and_equals_fresh_run(
        folder, tiny_demo_data, tmp_path, capsys):
    out = tmp_path / 'props.json'
    shards = tmp_path / 'props.json.parts'
    # "killed" run: only the first two images existed
    log = _main(capsys, folder, out, '--nproc', 2)
    assert 'skipped 0 done, 2 to process' in log
    first = _read(out)
    assert sorted(first['images']) == sorted(
        f'a/{p.name}' for p in (folder / 'a').iterdir())

    _add_b(folder, tiny_demo_data)
    log = _main(capsys, folder, out, '--nproc', 2)
    assert '5 images: skipped 2 done, 3 to process' in log
    # the two finished images were not recomputed: the new shard holds only
    # the three new images
    parts = _shard_paths(shards)
    assert len(parts) == 2
    assert sorted(parts[0]) == sorted(first['images'])
    assert sorted(parts[1]) == ['b/000003.jpg', 'b/bad.jpg', 'b/flat.png']
    resumed = _read(out)
    for key, boxes in first['images'].items():
        assert resumed['images'][key] == boxes

    # the unreadable file is reported, named, not fatal, not dropped
    assert list(resumed['failed']) == ['b/bad.jpg']
    assert resumed['failed']['b/bad.jpg']
    assert 'b/bad.jpg' not in resumed['images']
    assert '1 failed' in log
    # the flat image has no proposal left: kept, empty, listed
    assert resumed['images']['b/flat.png'] == []
    assert resumed['empty'] == ['b/flat.png']
    assert '1 with zero proposals' in log
    assert resumed['meta']['num_images'] == 5
    assert resumed['meta']['filter'] == 'ratio3size0308post'

    # a restart retries only the failed image
    log = _main(capsys, folder, out, '--nproc', 2)
    assert 'skipped 4 done, 1 to process' in log
    assert _read(out) == resumed

    # a fresh run (as a script, in a subprocess) gives the same file
    fresh = tmp_path / 'fresh.json'
    proc = run_tool([
        PYTHON, 'tools/data/selective_search.py',
        str(folder),
        str(fresh), '--nproc', '2', '--throughput'
    ])
    assert 'skipped 0 done, 5 to process' in proc.stdout
    assert 'images/s per process' in proc.stdout
    assert _read(fresh) == resumed
    # and what the dataset reads back
    loaded = load_proposals(str(fresh))
    assert set(loaded) == {'a/000001.jpg', 'a/000002.jpg', 'b/000003.jpg',
                           'b/flat.png'}
    for key, boxes in resumed['images'].items():
        xywh = np.asarray(boxes, np.float32).reshape(-1, 4)
        np.testing.assert_array_equal(loaded[key][:, :2], xywh[:, :2])
        np.testing.assert_array_equal(loaded[key][:, 2:],
                                      xywh[:, :2] + xywh[:, 2:])


def test_shards_with_other_parameters_are_refused(folder, tmp_path, capsys):
    out = tmp_path / 'props.json'
    _main(capsys, folder, out, '--nproc', 1)
    with pytest.raises(SystemExit, match='other parameters'):
        ss_tool.main([str(folder), str(out), '--filter', 'none'])


def test_coco_json_source(folder, tmp_path, capsys):
    names = sorted(p.name for p in (folder / 'a').iterdir())
    coco = dict(images=[
        dict(id=2, file_name=f'a/{names[1]}', width=1, height=1),
        dict(id=1, file_name=f'a/{names[0]}', width=1, height=1),
    ], annotations=[], categories=[])
    ann = tmp_path / 'instances.json'
    ann.write_text(json.dumps(coco))
    out = tmp_path / 'props.json'
    with pytest.raises(SystemExit):
        ss_tool.parse_args([str(ann), str(out)])  # no --img-prefix
    assert '--img-prefix is required' in capsys.readouterr().err
    _main(capsys, ann, out, '--img-prefix', folder, '--nproc', 1,
          '--filter', 'none')
    result = _read(out)
    assert list(result['images']) == [f'a/{n}' for n in names]  # by id
    assert all(len(b) > 0 for b in result['images'].values())
    assert result['meta']['filter'] == 'none'


def test_max_side_maps_boxes_to_original_pixels():
    # 2x nearest upscale of flat rectangles: INTER_AREA brings it back
    # exactly, so the search sees the small image and the boxes must come
    # back as the rectangles of the large one
    small = np.full((60, 80, 3), (40, 90, 200), np.uint8)
    small[10:40, 5:45] = (230, 40, 30)
    big = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    cfg = dict(
        implementation='skimage',
        scale=300,
        sigma=0.9,
        min_size=100,
        colour_hist='soco',
        neighbours='adjacency',
        max_side=80)
    boxes = set(map(tuple, ss_tool.propose(big, cfg).tolist()))
    assert (0, 0, 159, 119) in boxes  # whole image
    assert (10, 20, 79, 59) in boxes  # the rectangle, x 10..89, y 20..79
    assert (5, 10, 39, 29) not in boxes  # not in small-image pixels
    assert max(b[0] + b[2] for b in boxes) == 159
    assert max(b[1] + b[3] for b in boxes) == 119


@pytest.mark.skipif(ss_tool.has_opencv_contrib(),
                    reason='opencv-contrib is installed')
def test_opencv_fast_without_contrib_explains(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ss_tool.parse_args(
            [str(tmp_path), str(tmp_path / 'o.json'), '--method',
             'opencv-fast'])
    err = capsys.readouterr().err
    assert 'pip install opencv-contrib-python-headless' in err
    assert 'NOT equivalent' in err


def test_interrupt_keeps_finished_images(folder, tmp_path, capsys,
                                         monkeypatch):
    out = tmp_path / 'props.json'
    real_propose = ss_tool.propose
    calls = []

    def propose_then_interrupt(img, cfg):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C / SIGTERM while on image 2
        return real_propose(img, cfg)

    monkeypatch.setattr(ss_tool, 'propose', propose_then_interrupt)
    argv = [str(folder), str(out), '--nproc', '1', '--flush-every', '100']
    assert ss_tool.main(argv) == 130
    assert 'run the same command again to resume' in capsys.readouterr().err
    assert not out.exists()
    assert _shard_paths(str(out) + '.parts') == [['a/000001.jpg']]

    monkeypatch.setattr(ss_tool, 'propose', real_propose)
    log = _main(capsys, *argv)
    assert 'skipped 1 done, 1 to process' in log
    assert sorted(_read(out)['images']) == ['a/000001.jpg', 'a/000002.jpg']


def test_hint_defaults_are_the_tools_defaults():
    args = ss_tool.parse_args(['imgs', 'out.json'])
    for key, (flag, default) in TOOL_DEFAULTS.items():
        assert getattr(args, flag[2:].replace('-', '_')) == default, key
    assert osp.isfile(osp.join(osp.dirname(osp.dirname(
        osp.dirname(osp.abspath(__file__)))), TOOL))


def test_dataset_contract_on_the_tools_output(folder, tiny_demo_data,
                                              tmp_path, capsys, monkeypatch):
    """Failed, empty and missing images of a real file, and the command the
    missing-image error suggests, run as given."""
    logged = []
    monkeypatch.setattr(proposal_dataset, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    out = tmp_path / 'props.json'
    _add_b(folder, tiny_demo_data)  # + an image, a flat one, an unreadable
    # non-default parameters: the suggested command must repeat them
    _main(capsys, folder, out, '--max-side', 64, '--scale', 200)
    meta = _read(out)['meta']
    assert set(meta['params']) <= set(TOOL_DEFAULTS)
    src = sorted((Path(tiny_demo_data) / 'coco' / 'train2017').glob('*.jpg'))
    (folder / 'c').mkdir()
    shutil.copy(src[3], folder / 'c' / src[3].name)  # not in the file
    inner = dict(type='UnlabeledImageDataset',
                 data_prefix=dict(img_path=str(folder)))

    with pytest.raises(ValueError) as err:
        ProposalDataset(serialize_data=False, dataset=inner,
                        proposal_file=str(out))
    msg = str(err.value)
    assert "no entry for 1 of the 6 images" in msg
    assert f"'c/{src[3].name}'. They are not listed" in msg
    command = re.search(r'Fill them in by re-running `([^`]*)`', msg)[1]
    assert command == (f'python {TOOL} {folder} {out} --max-side 64 '
                       '--scale 200.0')
    argv = shlex.split(command)
    log = _main(capsys, *argv[2:])  # accepted by the shard folder
    # resumes: the new image and the failed one (retried)
    assert '6 images: skipped 4 done, 2 to process' in log

    ds = ProposalDataset(serialize_data=False, dataset=inner,
                         proposal_file=str(out))
    names = [ds.get_data_info(i)['img_path'][len(str(folder)) + 1:]
             for i in range(len(ds))]
    assert names == ['a/000001.jpg', 'a/000002.jpg', 'b/000003.jpg',
                     'b/flat.png', f'c/{src[3].name}']  # bad.jpg skipped
    assert ds.num_failed == 1 and ds.num_missing == 0
    assert [ds.num_proposals(i) == 0 for i in range(5)] == [
        False, False, False, True, False]
    assert len(logged) == 2
    assert "1 of the 6 images of" in logged[0]
    assert "'b/bad.jpg' (" in logged[0]
    assert ("1 of the 5 images (20.0%) have no usable proposal (1 listed as "
            "empty): 'b/flat.png'") in logged[1]


def test_pool_forks_only_from_a_single_threaded_process():
    """Fork copies only the calling thread: with other threads alive the
    pool starts its workers from a fork server instead (a lock held by
    another thread at fork time would hang a forked worker)."""
    import threading

    from mmalfm.apis.selective_search import native_threads, pool_context
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert native_threads() >= 2
        assert pool_context().get_start_method() == 'forkserver'
    finally:
        stop.set()
        helper.join()
    pid = os.fork()
    if pid == 0:  # a forked child has one thread
        ok = native_threads() == 1 and \
            pool_context().get_start_method() == 'fork'
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
