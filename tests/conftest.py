# Copyright (c) mmalfm contributors. All rights reserved.
import importlib.util
import os
import os.path as osp
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_DATA = osp.join(REPO, 'tests', 'data')
PLUGINS = osp.join(TEST_DATA, 'plugins')

if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs one pytest-xdist worker per core: one thread each
    # (two workers x all cores thrash), in this process and in the tools it
    # starts.
    torch.set_num_threads(1)
    for _var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[_var] = '1'
# OpenCV's thread pool does not survive a fork (a child of fork_tool could
# wait forever on a pool thread that exists only in the parent): the test
# processes run OpenCV on the calling thread, as mmengine's
# env_cfg.mp_cfg.opencv_num_threads=0 has a training run do.
cv2.setNumThreads(0)


def _remember_config_formatting() -> None:
    """MMEngine formats a config's text with yapf each time a run logs,
    dumps or checkpoints it: six times per run, most of the seconds of a
    tiny test run. The output is a function of the input, so the test
    processes (and their forked children) format each text once."""
    from mmengine.config import config as mmengine_config
    format_code = mmengine_config.FormatCode
    formatted: Dict[tuple, tuple] = {}

    def remembered(source, *args, **kwargs):
        key = (source, repr(args), repr(sorted(kwargs.items())))
        if key not in formatted:
            formatted[key] = format_code(source, *args, **kwargs)
        return formatted[key]

    mmengine_config.FormatCode = remembered


_remember_config_formatting()


def _remember_installed_metafiles() -> None:
    """MMEngine reads every metafile of MMDetection's model index for each
    ``mmdet::`` base of a config (a quarter of a second each). The installed
    packages do not change during a test session, so the test processes
    read each of their metafiles once; files elsewhere (ours) are read each
    time."""
    import site

    from mmengine.config import utils as config_utils
    load = config_utils.load
    installed = tuple(osp.join(p, '') for p in site.getsitepackages())
    loaded: Dict[str, object] = {}

    def remembered(file, *args, **kwargs):
        if args or kwargs or not str(file).startswith(installed):
            return load(file, *args, **kwargs)
        if file not in loaded:
            loaded[file] = load(file)
        return loaded[file]

    config_utils.load = remembered


_remember_installed_metafiles()

#: Node-id prefixes of the slowest tests (10 s or more each), run first in
#: this order so that a parallel run does not end on one worker with a long
#: test; everything else keeps pytest's order. The order is fixed, as
#: pytest-xdist needs the same collection on every worker.
SLOW_FIRST = (
    'tests/test_tools/test_run_demo.py::test_tiny_demo_end_to_end_and_resume',
    'tests/test_packaging/test_wheel_install.py',
    'tests/test_tools/test_benchmark_demo_train.py::test_same_seed',
    'tests/test_tools/test_run_demo.py::test_cli_file_runs_the_package_demo',
    'tests/test_tools/test_soco_demo.py',
    'tests/test_tools/test_train.py::test_dist_train_two_gloo_processes',
    'tests/test_tools/test_train.py::test_resume_is_bit_identical',
    'tests/test_tools/test_selective_search_tool.py::test_resume_skips',
    'tests/test_tools/test_detector_proposals.py::test_detector_proposals',
    'tests/test_utils/test_config_check.py::test_every_shipped_config',
    'tests/test_evaluation/test_region_probe.py::test_random_init_clearly',
    'tests/test_evaluation/test_region_probe.py::test_cli_random_init',
    'tests/test_tools/test_export_to_mmdet.py::test_check_passes',
    'tests/test_packaging/test_mim_configs.py::test_without_import_mmalfm',
    'tests/test_models/test_soco.py::test_level_bn_groups_equal',
    'tests/test_tools/test_alfm_train.py::test_alfm_resume',
    'tests/test_tools/test_soco_resume.py',
    'tests/test_tools/test_dupr_train.py',
    'tests/test_tools/test_benchmark_demo_train.py::test_random_init',
    'tests/test_tools/test_train.py::test_epoch_based_resume',
    'tests/test_tools/test_crosscl_train.py',
)

def _slow_rank(nodeid: str) -> int:
    return next((rank for rank, prefix in enumerate(SLOW_FIRST)
                 if nodeid.startswith(prefix)), len(SLOW_FIRST))


def pytest_collection_modifyitems(config, items) -> None:
    """Slowest tests first (:data:`SLOW_FIRST`, a stable sort)."""
    items.sort(key=lambda item: _slow_rank(item.nodeid))


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Undo the MMEngine default scopes a test leaves behind: a Runner in
    the test process (the in-process demo fine-tunes detectors) makes its
    scope, e.g. ``mmdet``, the current one for every later test of that
    process, and which tests share a process depends on the order and on
    pytest-xdist."""
    from mmengine.registry import DefaultScope
    before = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


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
    if check:
        _fail_unless_ok(proc)
    return proc


def _fail_unless_ok(proc: subprocess.CompletedProcess) -> None:
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(map(str, proc.args))} exited with '
                    f'{proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                    f'--- stderr ---\n{proc.stderr[-8000:]}')


PYTHON = sys.executable
_TOOLS: Dict[str, ModuleType] = {}


def _forget_global_instances() -> None:
    """Drop MMEngine's global instances (visualizers, message hubs,
    loggers) inherited from the parent, as a new interpreter starts without
    them: an in-process run of an earlier test leaves its ``Visualizer``
    current, and a runner would reuse it, writing this run's scalars into
    that run's work dir. The default scope is kept (the tools set it)."""
    from mmengine.registry import DefaultScope
    from mmengine.utils import ManagerMixin
    classes = [ManagerMixin]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        if not issubclass(cls, DefaultScope):
            cls._instance_dict.clear()


def _tool_main_in_child(tool: str, args: Sequence[str], stdout: str,
                        stderr: str) -> int:
    """The forked child of :func:`fork_tool`: the tool's ``main(args)``
    with fds 1/2 (and ``sys.stdout``/``sys.stderr``) on the given files, in
    the repository root with the test plugins importable and one torch
    thread, as :func:`run_tool` runs a tool. Returns the exit status: an
    ``int`` returned by ``main`` (the tools' ``sys.exit(main())``), a
    ``SystemExit`` code, or 1 for an exception (its traceback on stderr)."""
    for fd, path in ((1, stdout), (2, stderr)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(handle, fd)
        os.close(handle)
    sys.stdout = open(1, 'w', buffering=1, closefd=False)
    sys.stderr = open(2, 'w', buffering=1, closefd=False)
    os.chdir(REPO)
    sys.path[:0] = [REPO, PLUGINS]
    torch.set_num_threads(1)
    _forget_global_instances()
    try:
        status = _TOOLS[tool].main(list(args))
    except SystemExit as exc:
        status = exc.code
    except BaseException:  # noqa: BLE001 - reported like an interpreter
        traceback.print_exc()
        return 1
    if status is None or isinstance(status, bool) or \
            not isinstance(status, int):
        return 0 if not isinstance(status, str) else 1
    return status


def fork_tool(tool: str, args: Sequence[str], *, timeout: int = 300,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run a tool's ``main(args)`` in a forked child of this test process:
    its own process (a run that exits or crashes takes nothing of its state
    along, and the status is the process's), without paying the seconds of
    imports (torch, mmdet, mmpretrain) of a fresh interpreter, which
    dominate the tiny test runs. :func:`run_tool` remains for the tests of
    the command line itself.

    The child leaves with ``os._exit`` right after flushing its output: no
    interpreter shutdown (``atexit``, thread joins, finalizers) runs on the
    parent's inherited state, where a lock held by one of the parent's
    threads at fork time would hang it. The parent polls the child without
    blocking, so a hung child is killed after ``timeout`` seconds and the
    test fails instead of the run hanging.

    Args:
        tool (str): The script, relative to the repository, e.g.
            ``'tools/train.py'``; imported once per test process.
        args (Sequence[str]): Its command-line arguments.
        timeout (int): Seconds before the child is killed and the test
            fails.
        check (bool): Fail the test with the output on a nonzero status.

    Returns:
        subprocess.CompletedProcess: ``args`` (``[tool, *args]``), the
        exit status, and the child's stdout and stderr.
    """
    if tool not in _TOOLS:
        _TOOLS[tool] = load_tool(tool)
    with tempfile.TemporaryDirectory() as tmp:
        out, err = osp.join(tmp, 'stdout'), osp.join(tmp, 'stderr')
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                code = _tool_main_in_child(tool, list(args), out, err)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        status = _wait_child(pid, timeout)
        if status is None:
            pytest.fail(f'{tool} {" ".join(args)} timed out after '
                        f'{timeout} s (killed)')
        with open(out) as f_out, open(err) as f_err:
            proc = subprocess.CompletedProcess([tool, *args], status,
                                               f_out.read(), f_err.read())
    if check:
        _fail_unless_ok(proc)
    return proc


def _wait_child(pid: int, timeout: float) -> Optional[int]:
    """The exit status of child ``pid`` (``-signal`` if killed by one), or
    None after killing it when it is still running after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.02)


@pytest.fixture(scope='session')
def tiny_demo_proposals(tiny_demo_data, tmp_path_factory) -> Tuple[str, str]:
    """The tiny demo set's COCO root and its selective-search proposal file
    (made once per session by ``tools/data/selective_search.py``, in its own
    interpreter: OpenCV's thread pool is not fork-safe).

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


def train_tiny(config: str, work_dir, data_options: Sequence[str], *extra,
               check: bool = True,
               fork: bool = True) -> subprocess.CompletedProcess:
    """``tools/train.py`` on a config of ``tests/data/configs``.

    Args:
        config (str): ``'<name>.py'`` under ``tests/data/configs``.
        work_dir: The run's work dir.
        data_options (Sequence[str]): The ``--cfg-options`` that point the
            config at the test data.
        *extra: More arguments after them (``key=value`` options, then
            flags such as ``--resume``).
        check (bool): Fail the test on a nonzero exit status.
        fork (bool): A forked child of this process (:func:`fork_tool`),
            else a fresh interpreter running the script
            (:func:`run_tool`).
    """
    args = [
        osp.join(TEST_DATA, 'configs', config), '--work-dir',
        str(work_dir), '--cfg-options', *data_options, *extra
    ]
    if fork:
        return fork_tool('tools/train.py', args, check=check)
    return run_tool([PYTHON, 'tools/train.py', *args], check=check)


def train_on_coco(config: str, work_dir, data_root: str, *extra,
                  check: bool = True,
                  fork: bool = True) -> subprocess.CompletedProcess:
    """:func:`train_tiny` on an image-only config with the COCO images of
    :func:`tiny_demo_data` (``data_root``)."""
    return train_tiny(
        config, work_dir,
        [f'train_dataloader.dataset.data_root={data_root}/coco/'], *extra,
        check=check, fork=fork)


def train_on_proposals(config: str, work_dir, data: Tuple[str, str], *extra,
                       check: bool = True,
                       fork: bool = True) -> subprocess.CompletedProcess:
    """:func:`train_tiny` on a ``ProposalDataset`` config with the data of
    :func:`tiny_demo_proposals`."""
    coco, proposals = data
    return train_tiny(config, work_dir, [
        f'train_dataloader.dataset.dataset.data_root={coco}/',
        'train_dataloader.dataset.data_root=',
        f'train_dataloader.dataset.proposal_file={proposals}'
    ], *extra, check=check, fork=fork)


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


def assert_resume_is_bit_identical(train, config: str, tmp_path, *,
                                   whole=None, kill=None) -> None:
    """4 iterations in one go == 2, killed (``<config>_interrupted.py``),
    ``--resume``, to 4: identical online and EMA target weights, BN
    statistics, optimizer (LARS momentum) and LR scheduler states.

    Every run is a process of its own (:func:`train_tiny`), so the resumed
    run has only the checkpoint of the killed one.

    Args:
        train (callable): ``train(config, work_dir, *extra, check=True)``
            running ``tools/train.py`` on the test data.
        config (str): ``'<name>.py'`` under ``tests/data/configs``.
        tmp_path: pytest's temporary directory.
        whole (Path, optional): The work dir of an uninterrupted run of
            ``config`` made by ``train``; by default made here, under
            ``tmp_path / 'whole'``.
        kill (callable, optional): Runs the interrupted run instead of
            ``train`` (same signature).
    """
    split = tmp_path / 'split'
    if whole is None:
        whole = tmp_path / 'whole'
        train(config, whole)

    killed = (kill or train)(config.replace('.py', '_interrupted.py'), split,
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
