# Copyright (c) mmalfm contributors. All rights reserved.
"""The user's path without our repository: build the wheel, install it into
a fresh virtual environment, and from a folder outside the repository

* ``mim search mmalfm`` lists the models of the metafiles;
* a config of one's own inherits ``mmalfm::alfm/...demo.py`` and changes a
  key; ``mim train mmalfm`` runs it (2 iterations) with the installed
  ``mmalfm/.mim/tools/train.py``;
* the installed exporter writes the export, ``--check``-ed against a
  detector config inheriting ``mmalfm::benchmarks/...``;
* ``mim test mmalfm`` evaluates that detector initialised from the export.

The fresh environment reuses this environment's torch/mmcv/mmdet (a ``.pth``
line: no second mmcv build) and gets the wheel with ``pip --no-deps``; what
it imports as ``mmalfm`` is the installed copy, not this checkout.
"""
import json
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
import zipfile
from types import SimpleNamespace

import pytest
from conftest import REPO

ALFM_DEMO = 'alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py'
DEMO_DETECTOR = ('benchmarks/mmdetection/demo/'
                 'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')
#: What a wheel is built from (the sdist's content, see MANIFEST.in).
SOURCES = ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md',
           'model-index.yml', 'configs', 'tools', 'mmalfm')


def _run(args, cwd, timeout=300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', COLUMNS='200')
    proc = subprocess.run([str(a) for a in args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, args))} exited with '
                    f'{proc.returncode}\n--- stdout ---\n'
                    f'{proc.stdout[-4000:]}\n--- stderr ---\n'
                    f'{proc.stderr[-8000:]}')
    return proc


def _outside_repo(path) -> str:
    path = osp.realpath(str(path))
    assert not path.startswith(osp.realpath(REPO) + os.sep), path
    return path


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """A fresh venv with the wheel of this working tree installed."""
    root = tmp_path_factory.mktemp('packaging')
    _outside_repo(root)
    src = root / 'src'
    src.mkdir()
    skip = shutil.ignore_patterns('.mim', '__pycache__', '*.py[cod]')
    for name in SOURCES:
        path = osp.join(REPO, name)
        if osp.isdir(path):
            shutil.copytree(path, src / name, ignore=skip)
        else:
            shutil.copyfile(path, src / name)
    dist = root / 'dist'
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
          '--no-build-isolation', '--no-index', '-q', '-w', dist, src],
         cwd=root)
    wheel, = dist.glob('mmalfm-*.whl')

    venv = root / 'venv'
    _run([sys.executable, '-m', 'venv', '--without-pip', venv], cwd=root)
    python = venv / 'bin' / 'python'
    purelib = _run([python, '-c', 'import sysconfig; '
                    'print(sysconfig.get_paths()["purelib"])'],
                   cwd=root).stdout.strip()
    # torch, mmcv, mmdet, mim... of this environment, after the venv's own
    base = [p for p in site.getsitepackages() if osp.isdir(p)]
    with open(osp.join(purelib, '_mmalfm_test_base_env.pth'), 'w') as f:
        f.write('\n'.join(base) + '\n')
    _run([sys.executable, '-m', 'pip', '--python', python, 'install',
          '--no-deps', '--no-index', '-q', wheel], cwd=root)
    return SimpleNamespace(python=python, site=purelib, wheel=wheel,
                           package=osp.join(purelib, 'mmalfm'))


def test_wheel_carries_the_mim_folder(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    for name in ('mmalfm/.mim/model-index.yml', 'mmalfm/.mim/tools/train.py',
                 'mmalfm/.mim/tools/test.py',
                 'mmalfm/.mim/tools/model_converters/export_to_mmdet.py',
                 'mmalfm/.mim/configs/alfm/metafile.yml',
                 'mmalfm/.mim/configs/alfm/README.md',
                 'mmalfm/.mim/configs/' + ALFM_DEMO,
                 'mmalfm/.mim/configs/' + DEMO_DETECTOR,
                 'mmalfm/.mim/configs/_base_/default_runtime.py'):
        assert name in names, name
    assert not [n for n in names if '__pycache__' in n or 'tests/' in n]


def test_installed_copy_is_imported(installed, tmp_path):
    """Without PYTHONPATH and outside the repository, ``mmalfm`` is the
    installed copy (checked without importing it: the training below runs
    it), whose ``.mim`` holds copies, not links."""
    script = ('import importlib.util, json, sys\n'
              'print(json.dumps([importlib.util.find_spec("mmalfm").origin,'
              ' sys.path]))\n')
    out = _run([installed.python, '-c', script], cwd=tmp_path).stdout
    origin, path = json.loads(out.strip().splitlines()[-1])
    assert origin == osp.join(installed.package, '__init__.py')
    assert not [p for p in path
                if p and osp.realpath(p) == osp.realpath(REPO)]
    mim_dir = osp.join(installed.package, '.mim')
    for name in ('configs', 'tools', 'model-index.yml'):
        assert not osp.islink(osp.join(mim_dir, name)), name
    assert osp.isfile(osp.join(mim_dir, 'configs', ALFM_DEMO))


def test_mim_search_lists_the_metafile_models(installed, tmp_path):
    from mmengine.fileio import load
    names = [
        m['Name'] for meta in load(osp.join(REPO, 'model-index.yml'))
        ['Import'] for m in load(osp.join(REPO, meta))['Models']
    ]
    out = _run([installed.python, '-m', 'mim', 'search', 'mmalfm'],
               cwd=tmp_path).stdout
    for name in names:
        assert f'config id: {name}\n' in out, name
    assert out.count('config id: ') == len(names)


def test_user_config_trains_exports_and_tests(installed, tiny_demo_proposals,
                                              tmp_path):
    coco, proposals = tiny_demo_proposals
    user = _outside_repo(tmp_path)
    data_root = coco.rstrip('/') + '/'
    with open(osp.join(user, 'my_alfm.py'), 'w') as f:
        f.write(f"""_base_ = 'mmalfm::{ALFM_DEMO}'

train_cfg = dict(max_epochs=1)  # the change: one epoch

# where the data are; 12 images in batches of 6: 2 iterations
train_dataloader = dict(
    batch_size=6,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='{data_root}',
        proposal_file='{proposals}',
        dataset=dict(data_root='{data_root}')))
""")
    export = osp.join(user, 'export.pth')
    with open(osp.join(user, 'my_detector.py'), 'w') as f:
        f.write(f"""_base_ = 'mmalfm::{DEMO_DETECTOR}'

model = dict(init_cfg=dict(checkpoint='{export}'))
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root='{data_root}'))
test_evaluator = dict(
    ann_file='{data_root}annotations/instances_val2017.json')
""")
    tools = osp.join(installed.package, '.mim', 'tools')

    # pretrain with mim and the installed tools/train.py
    train = _run([installed.python, '-m', 'mim', 'train', 'mmalfm',
                  'my_alfm.py', '--work-dir', 'pretrain'], cwd=user)
    log = train.stdout + train.stderr
    assert f'Training command is {installed.python} ' \
        f'{osp.join(tools, "train.py")} my_alfm.py' in log
    assert 'Epoch(train) [1][2/2]' in log
    ckpt = osp.join(user, 'pretrain', 'epoch_1.pth')
    assert osp.isfile(ckpt)

    # export, checked against the user's detector config
    exported = _run([
        installed.python,
        osp.join(tools, 'model_converters', 'export_to_mmdet.py'), ckpt,
        export, '--with-neck', '--with-head', '--check', 'my_detector.py'
    ], cwd=user).stdout
    assert 'ok: every requested key present with the right shape' in exported
    assert osp.isfile(export)

    # evaluate that detector (initialised from the export) with mim test
    tested = _run([installed.python, '-m', 'mim', 'test', 'mmalfm',
                   'my_detector.py', '--checkpoint', export, '--work-dir',
                   'test'], cwd=user)
    log = tested.stdout + tested.stderr
    assert osp.join(tools, 'test.py') in log
    assert 'coco/bbox_mAP' in log
