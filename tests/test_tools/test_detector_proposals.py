# Copyright (c) mmalfm contributors. All rights reserved.
"""tools/data/detector_proposals.py with a randomly initialised demo
detector on the tiny demo images: boxes are junk, the plumbing is real
(format, failed/empty images, store output, the dataset, the suggested
command, torchrun with gloo == one process, byte for byte)."""
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PYTHON, REPO, run_tool
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmalfm.apis import detector_proposals as det_tool
from mmalfm.datasets import ProposalDataset
from mmalfm.datasets.proposals import convert_proposals, read_proposal_file

DETECTOR = ('configs/benchmarks/mmdetection/demo/'
            'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')
RANDOM_INIT = DETECTOR.replace('.py', '_random-init.py')
TOOL = 'tools/data/detector_proposals.py'


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    """A randomly initialised demo detector (seeded), saved as a
    checkpoint."""
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS
    cfg = Config.fromfile(str(Path(REPO) / RANDOM_INIT))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    path = tmp_path_factory.mktemp('detector') / 'random_init.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=list(cfg.classes)))),
               path)
    return str(path)


@pytest.fixture
def folder(tiny_demo_data, tmp_path) -> Path:
    """The 12 tiny demo train images and an unreadable file."""
    root = tmp_path / 'imgs'
    shutil.copytree(Path(tiny_demo_data) / 'coco' / 'train2017', root)
    (root / 'zz_bad.jpg').write_text('not an image')
    return root


def _run(*argv) -> None:
    """The tool in this process (the detector's default scope undone)."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert det_tool.main([str(a) for a in argv]) == 0


def test_detector_proposals(folder, checkpoint, tmp_path, tiny_demo_data):
    out = tmp_path / 'det.json'
    flags = ['--score-thr', '0.01', '--max-per-img', '20']
    _run(DETECTOR, checkpoint, folder, out, *flags, '--device', 'cpu')
    record = read_proposal_file(str(out))
    names = sorted(p.name for p in folder.glob('*.jpg'))
    assert record['box_format'] == 'xyxy' and not record['integer']
    assert list(record['images']) == names[:12]
    assert list(record['failed']) == ['zz_bad.jpg']
    assert 'CorruptImageError' in record['failed']['zz_bad.jpg']
    meta = record['meta']
    assert {k: meta[k] for k in ('method', 'config', 'checkpoint',
                                 'score_thr', 'max_per_img', 'num_images',
                                 'num_failed')} == dict(
        method='detector', config=DETECTOR, checkpoint=checkpoint,
        score_thr=0.01, max_per_img=20, num_images=13, num_failed=1)
    assert 'torch' in meta['versions'] and 'part' not in meta
    import cv2
    for name, boxes in record['images'].items():
        height, width = cv2.imread(str(folder / name)).shape[:2]
        assert 1 <= len(boxes) <= 20, name
        assert (boxes[:, 2:] > boxes[:, :2]).all()  # xyxy
        assert boxes.min() >= 0 and (boxes[:, [0, 2]] <= width + 1e-3).all()
        assert (boxes[:, [1, 3]] <= height + 1e-3).all()  # source pixels

    # the dataset reads them; the unreadable image is left out
    inner = dict(type='UnlabeledImageDataset',
                 data_prefix=dict(img_path=str(folder)))
    ds = ProposalDataset(dataset=inner, proposal_file=str(out))
    assert len(ds) == 12 and ds.num_failed == 1
    assert [ds.num_proposals(i) for i in range(12)] == [
        len(record['images'][n]) for n in names[:12]]
    np.testing.assert_array_equal(
        ds[0]['proposals'], record['images'][names[0]].astype(np.float32))

    # a missing image: the error suggests the detector tool, as run
    val = sorted((Path(tiny_demo_data) / 'coco' / 'val2017').glob('*.jpg'))
    shutil.copy(val[0], folder / 'new.jpg')
    with pytest.raises(ValueError) as err:
        ProposalDataset(dataset=inner, proposal_file=str(out))
    assert (f'Fill them in by re-running `python {TOOL} {DETECTOR} '
            f'{checkpoint} {folder} {out} --score-thr 0.01 --max-per-img '
            '20` (it runs the detector over every image again)') in str(
                err.value)
    (folder / 'new.jpg').unlink()

    # a store holds the same (OUT without .json)
    store = tmp_path / 'det_store'
    _run(DETECTOR, checkpoint, folder, store, *flags)
    convert_proposals(str(store), str(tmp_path / 'back.json'))
    assert (tmp_path / 'back.json').read_bytes() == out.read_bytes()

    # nothing above the threshold: every image listed as empty
    high = tmp_path / 'none.json'
    _run(DETECTOR, checkpoint, folder, high, '--score-thr', '0.999')
    content = json.loads(high.read_text())
    assert content['empty'] == names[:12]
    assert all(v == [] for v in content['images'].values())

    # torchrun, 2 processes (gloo): one part per rank, merged == 1 process
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    dist = tmp_path / 'dist.json'
    proc = run_tool([
        PYTHON, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port', str(port), TOOL, DETECTOR, checkpoint,
        str(folder), str(dist), *flags, '--launcher', 'pytorch'
    ], timeout=240)
    assert '[rank 0/2] merged 2 parts into' in proc.stdout
    assert dist.read_bytes() == out.read_bytes()
    assert not list(tmp_path.glob('dist.part*'))  # parts removed


def test_part_without_launcher_and_bad_arguments(folder, capsys):
    with pytest.raises(SystemExit):
        det_tool.parse_args([DETECTOR, 'c.pth', 'x.json', 'o.json'])
    assert '--img-prefix is required' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        det_tool.parse_args([DETECTOR, 'c.pth', str(folder), 'o.json',
                             '--launcher', 'pytorch', '--num-parts', '2'])
    assert 'the parts are the ranks' in capsys.readouterr().err


@pytest.mark.parametrize('config', [
    'configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_detector-proposals_demo.py',
    'configs/alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_detector-proposals_demo'
    '.py'
])
def test_detector_proposal_configs_change_only_the_file(config):
    base = config.replace('_detector-proposals', '')

    def flat(node, key=''):
        if isinstance(node, dict):
            return {k: v for name, value in node.items()
                    for k, v in flat(value, f'{key}.{name}').items()}
        if isinstance(node, (list, tuple)):
            return {k: v for i, value in enumerate(node)
                    for k, v in flat(value, f'{key}.{i}').items()}
        return {key: node}

    ours = flat(Config.fromfile(str(Path(REPO) / config)).to_dict())
    theirs = flat(Config.fromfile(str(Path(REPO) / base)).to_dict())
    assert {k for k in set(ours) | set(theirs)
            if ours.get(k) != theirs.get(k)} == {
                '.train_dataloader.dataset.proposal_file'}
    assert ours['.train_dataloader.dataset.proposal_file'] == \
        'proposals/det_train2017.json'
