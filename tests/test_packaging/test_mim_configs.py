# Copyright (c) mmalfm contributors. All rights reserved.
"""``mmalfm::`` config paths (mmalfm/utils/mim.py) and the ``.mim`` metadata
(model-index.yml, configs/*/metafile.yml) in this environment; the installed
wheel is exercised by test_wheel_install.py."""
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from mmengine.config import Config

import mmalfm  # noqa: F401  (registers mmalfm::)
from mmalfm.utils import mim

BYOL_DEMO = 'byol/byol_resnet18q_1xb8-coslr-10e_demo.py'
ALFM_DEMO = 'alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py'
DEMO_DETECTOR = ('benchmarks/mmdetection/demo/'
                 'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')


def _plain(cfg: Config) -> dict:
    return cfg.to_dict()


def test_registration_is_done_once_at_import():
    from mmengine.config import utils as config_utils
    assert config_utils.MODULE2PACKAGE['mmalfm'] == 'mmalfm'
    assert config_utils.PKG2PROJECT is config_utils.MODULE2PACKAGE
    fromfile, get_cfg_path = Config.fromfile, Config._get_cfg_path
    assert getattr(fromfile, mim._MARK) and getattr(get_cfg_path, mim._MARK)
    mim.register_mim_package()  # idempotent: no second wrapper
    assert Config.fromfile is fromfile
    assert Config._get_cfg_path is get_cfg_path


def test_base_from_mmalfm_in_a_config_outside_the_repo(tmp_path):
    user = tmp_path / 'my_byol.py'
    user.write_text(f"_base_ = 'mmalfm::{BYOL_DEMO}'\n"
                    'train_cfg = dict(max_epochs=2)\n')
    cfg = Config.fromfile(str(user))
    ours = Config.fromfile(osp.join(REPO, 'configs', BYOL_DEMO))
    assert cfg.train_cfg.max_epochs == 2 != ours.train_cfg.max_epochs
    # otherwise the very config, merged as a relative _base_ would be (no
    # `_scope_` added: it would reach collate_fn)
    mine = _plain(cfg)
    mine['train_cfg']['max_epochs'] = ours.train_cfg.max_epochs
    assert mine == _plain(ours)
    assert cfg.default_scope == 'mmalfm'
    assert '_scope_' not in cfg.train_dataloader.collate_fn


def test_fromfile_takes_mmalfm_paths():
    cfg = Config.fromfile('mmalfm::' + ALFM_DEMO)
    assert cfg.filename.startswith(mim.config_root())
    assert osp.samefile(cfg.filename, osp.join(REPO, 'configs', ALFM_DEMO))
    assert cfg.model.type == 'ALFM'
    # the suffix may be left out
    again = Config.fromfile('mmalfm::' + ALFM_DEMO[:-3])
    assert again.filename == cfg.filename


def test_mmdet_bases_inside_our_configs_still_resolve():
    cfg = Config.fromfile('mmalfm::' + DEMO_DETECTOR)
    assert cfg.model.type == 'FasterRCNN'
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.backbone.stem_channels == 16
    # and MMEngine's own packages are reachable by fromfile too
    det = Config.fromfile('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    assert det.model.type == 'FasterRCNN'


def test_other_paths_pass_through(tmp_path):
    plain = tmp_path / 'a::b.py'  # a real file, '::' or not
    plain.write_text('x = 1\n')
    assert mim.resolve_config(str(plain)) == str(plain)
    assert Config.fromfile(str(plain)).x == 1
    assert mim.resolve_config(Path(plain)) == Path(plain)
    assert mim.resolve_config('configs/x.py') == 'configs/x.py'


def test_unknown_mmalfm_config_names_itself():
    with pytest.raises(FileNotFoundError, match=r'mmalfm::alfm/nope\.py'):
        Config.fromfile('mmalfm::alfm/nope.py')
    with pytest.raises(FileNotFoundError, match='mmalfm::'):
        mim.resolve_config('mmalfm::')


def test_config_root_falls_back_to_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setattr(mim, 'mim_dir', lambda: str(tmp_path / 'none'))
    assert mim.config_root() == osp.join(REPO, 'configs')
    assert Config.fromfile('mmalfm::' + BYOL_DEMO).model.type == 'BYOL'


def test_editable_install_links_the_repository():
    mim_dir = osp.join(REPO, 'mmalfm', '.mim')
    if mim.PACKAGE_DIR != osp.join(REPO, 'mmalfm'):
        pytest.skip('mmalfm is imported from elsewhere than this checkout')
    if not osp.isdir(mim_dir):
        pytest.skip('no mmalfm/.mim: the editable install (make setup) '
                    'makes it')
    for name in ('configs', 'tools', 'model-index.yml'):
        path = osp.join(mim_dir, name)
        assert osp.islink(path), f'{path} should link to the repository'
        assert osp.samefile(path, osp.join(REPO, name))
    assert mim.config_root() == osp.join(mim_dir, 'configs')


def test_without_import_mmalfm_mmengine_refuses_the_base(tmp_path):
    """The documented limitation: MMEngine reads ``_base_`` before the
    config's ``custom_imports``, so ``import mmalfm`` must come first."""
    user = tmp_path / 'user.py'
    user.write_text(f"_base_ = 'mmalfm::{BYOL_DEMO}'\n"
                    "custom_imports = dict(imports=['mmalfm'])\n")
    script = (
        'import sys\n'
        'from mmengine.config import Config\n'
        'try:\n'
        '    Config.fromfile(sys.argv[1])\n'
        'except AssertionError as err:\n'
        '    print("refused:", err)\n'
        'import mmalfm\n'
        'print("loaded:", Config.fromfile(sys.argv[1]).model.type)\n')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run([sys.executable, '-c', script, str(user)],
                          cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'refused: mmengine does not support to load mmalfm config' \
        in proc.stdout
    assert 'loaded: BYOL' in proc.stdout


def test_benchmark_tool_takes_mmalfm_config(tmp_path):
    from mmalfm.apis import benchmark as tool
    args = tool.parse_args(['mmalfm::' + BYOL_DEMO, '--batch', '2'])
    cfg = tool.load_cfg(args.config, args, str(tmp_path))
    assert cfg.model.type == 'BYOL'
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.work_dir == str(tmp_path)


def test_exporter_check_takes_mmalfm_config():
    from mmalfm.apis.export import build_detector_state
    state = build_detector_state('mmalfm::' + DEMO_DETECTOR)
    assert 'backbone.conv1.weight' in state


# ---------------------------------------------------------------------------
# model-index.yml and the metafiles, as mim reads them
# ---------------------------------------------------------------------------
def _model_index():
    from modelindex.load_model_index import load
    return load(osp.join(REPO, 'model-index.yml'))


def test_model_index_imports_resolve():
    from mmengine.fileio import load
    index = load(osp.join(REPO, 'model-index.yml'))
    assert index['Import'], 'model-index.yml imports no metafile'
    for meta in index['Import']:
        path = osp.join(REPO, meta)
        assert osp.isfile(path), f'model-index.yml: {meta} does not exist'
        for model in load(path)['Models']:
            config = model['Config']
            assert config.startswith('configs/'), (meta, config)
            assert osp.isfile(osp.join(REPO, config)), (meta, config)
            # the name mmengine.hub / mim use is the config's stem
            assert model['Name'] == osp.splitext(osp.basename(config))[0]
    metafiles = sorted(
        osp.relpath(str(p), REPO)
        for p in Path(REPO, 'configs').glob('*/metafile.yml'))
    assert sorted(index['Import']) == metafiles


def test_mim_search_parses_every_model():
    from mim.commands.search import convert2df
    index = _model_index()
    names = [m.name for m in index.models]
    assert len(names) == len(set(names)) > 0
    table = convert2df(index)
    assert sorted(table.index) == sorted(names)
    assert {'model', 'config', 'epochs', 'training_data'} <= set(
        table.columns)
    assert set(table['model']) == {'alfm', 'byol', 'crosscl', 'dupr', 'soco'}
