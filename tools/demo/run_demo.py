# Copyright (c) mmalfm contributors. All rights reserved.
"""The end-to-end CPU demo: what region-level pretraining buys a detector.

    python tools/demo/run_demo.py [--methods alfm [soco ... CONFIG.py]] \
        [--work-dir work_dirs/demo] [--data data/demo] \
        [--label-fraction 0.25] [--finetune-iters 300] [--finetune-seeds 2] \
        [--tiny]

Stages (one progress line each, with the elapsed time; the tools' own logs
stream in between):

1. ``data``: the generated demo data set (``tools/data/make_demo_data.py``),
   kept if it exists;
2. ``proposals``: selective-search proposals for the methods whose config
   trains on them (a ``ProposalDataset``, or a region sampler with
   ``needs_proposals``: SoCo, ALFM; ``tools/data/selective_search.py``), or
   with ``--proposals
   detector --proposal-checkpoint PATH`` the boxes of a trained demo
   detector (``tools/data/detector_proposals.py``);
3. ``pretrain <m>``: ``tools/train.py`` on the method's demo config (the
   entry of ``configs/<m>/metafile.yml`` marked ``Demo: true``, or the config
   given instead of a name; every one uses the demo backbone "r18q"); the
   BYOL baseline always runs alongside;
4. ``export <m>``: ``tools/model_converters/export_to_mmdet.py ... --check
   DETECTOR`` with the export flags the method's transfer declaration gives
   (backbone + FPN + box head for SoCo / ALFM, backbone otherwise);
5. ``labels``: a ``--label-fraction`` subset of the train annotations
   (``tools/data/make_coco_subset.py``);
6. ``finetune <init>``: the demo Faster R-CNN from each export and from random
   init, same config, same labelled subset, same schedule, evaluated (COCO
   box AP on the demo val images) at the end;
7. ``evaluate <init>``: reads that evaluation (``tools/test.py`` on the final
   checkpoint when the run was interrupted after training);
8. ``report``: ``WORK_DIR/report.md`` with the table (AP^bb, AP50, times), the
   stage times and the plots ``loss_pretrain.png``, ``loss_finetune.png``,
   ``ap.png``.

Resumable: every stage records itself in ``WORK_DIR/stages/<stage>.json``
when it finishes (and checks its outputs); a re-run skips finished stages and
continues training stages with ``--resume`` from the work dir's
``last_checkpoint``. Times in the report are the wall times of the stages as
measured in the run(s) that produced them (summed over interrupted attempts).
Delete a stage's record (or its work dir) to redo it.
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import platform
import signal
import statistics
import subprocess
import sys
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: The image-level baseline, always pretrained alongside (reported last).
BASELINE = 'byol'
# 300 iterations (20 epochs of the 60 labelled images at batch 4) with 2
# seeds per init: what fits `make demo` in about 20 minutes on 2 cores
# (docs/user_guides/demo.md has the measurements)
FINETUNE_ITERS = 300
#: Fine-tuning seeds per init: the report gives AP mean +- std over them.
FINETUNE_SEEDS = 2
#: The fine-tuning run without pretraining.
RANDOM = 'random'

DETECTOR = ('configs/benchmarks/mmdetection/demo/'
            'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')
DETECTOR_RANDOM = DETECTOR.replace('.py', '_random-init.py')
TOOLS = dict(
    make_demo_data='tools/data/make_demo_data.py',
    selective_search='tools/data/selective_search.py',
    detector_proposals='tools/data/detector_proposals.py',
    train='tools/train.py',
    test='tools/test.py',
    export='tools/model_converters/export_to_mmdet.py',
    region_probe='tools/analysis/region_probe.py',
    make_coco_subset='tools/data/make_coco_subset.py')

#: The configs' data root, rewritten when ``--data`` points elsewhere.
DEFAULT_DATA = 'data/demo'
CONFIG_DATA_ROOT = 'data/demo/coco/'
TRAIN_ANN = 'annotations/instances_train2017.json'
VAL_ANN = 'annotations/instances_val2017.json'
PROPOSALS = 'proposals/ss_train2017.json'
#: ``--proposals detector``: the demo detector's boxes (what the
#: ``*_detector-proposals_demo.py`` configs read), score >= 0.05.
DETECTOR_PROPOSALS = 'proposals/det_train2017.json'
DETECTOR_SCORE_THR = 0.05
#: Threads of every tool the demo runs; with the kernels' ISA pinned too
#: (mmalfm.utils.cpu_numerics), so another machine runs the same numerics.
DEMO_THREADS = 2
#: Cross-validation folds of the region probe (every box of the train and
#: val images predicted once: about 4.7x the boxes of the val split alone).
PROBE_FOLDS = 5
#: Metrics of the final evaluation (MMDetection's CocoMetric), in [0, 1].
AP_KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')

#: The tiny variant (tests): generated data size and per-run overrides.
TINY_DATA = dict(num_train=12, num_val=4, min_size=64, max_size=96)
TINY_SCALE = (128, 96)


class DemoError(RuntimeError):
    """A stage cannot run or failed; the message says what to do."""


# --------------------------------------------------------------------------
# Options and plan
# --------------------------------------------------------------------------
@dataclass
class DemoOptions:
    """What to run, and where.

    Attributes:
        methods (list[str]): Pretraining methods, baseline included, in
            report order.
        work_dir (str): Absolute output folder.
        data (str): Absolute demo data root (COCO layout under ``coco/``).
        label_fraction (float): Fraction of the train images whose labels
            the detector is fine-tuned on.
        finetune_iters (int): Approximate fine-tuning iterations; the
            number of epochs over the subset follows from it.
        seed (int): Subset seed (the fine-tuning seed is the config's).
        finetune_seeds (int): Fine-tuning runs per init: the config's seed
            (0), then seeds 1, 2, ... (``randomness.seed``).
        tiny (bool): Seconds-long variant: 1 epoch, tiny images.
        nproc (int): Processes for the proposals.
        quiet (bool): Do not echo the tools' output (it is still logged).
        in_process (bool): Call the tools' ``main(argv)`` in this process
            instead of a subprocess each (saves their ~10 s of imports per
            stage; the tests use it; output is not logged to files).
        configs (dict): ``{method: config}`` given on the command line
            instead of a name (the others use their demo config).
        proposals (str): ``'ss'`` (selective search) or ``'detector'``.
        proposal_checkpoint (str, optional): The trained demo detector for
            ``proposals='detector'``.
    """
    methods: List[str]
    work_dir: str
    data: str
    label_fraction: float = 0.25
    finetune_iters: int = FINETUNE_ITERS
    seed: int = 1
    finetune_seeds: int = FINETUNE_SEEDS
    tiny: bool = False
    nproc: int = 2
    quiet: bool = False
    in_process: bool = False
    configs: Dict[str, str] = field(default_factory=dict)
    proposals: str = 'ss'
    proposal_checkpoint: Optional[str] = None

    @property
    def proposal_file(self) -> str:
        """The proposals SoCo and ALFM pretrain on."""
        return osp.join(self.coco, DETECTOR_PROPOSALS
                        if self.proposals == 'detector' else PROPOSALS)

    @property
    def coco(self) -> str:
        return osp.join(self.data, 'coco')

    @property
    def inits(self) -> List[str]:
        """Fine-tuning runs: random init first, then one per method."""
        return [RANDOM, *self.methods]


@dataclass
class Stage:
    """One step of the demo.

    Attributes:
        name (str): Unique id (also the record's file name).
        title (str): Progress-line text.
        run (callable): ``run(opts) -> dict`` doing the work; returns what
            the record keeps (outputs, numbers).
        outputs (callable): ``outputs(opts) -> list[str]`` files that must
            exist for a recorded stage to count as done.
    """
    name: str
    title: str
    run: Callable[['DemoOptions'], dict]
    outputs: Callable[['DemoOptions'], List[str]] = lambda opts: []


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='End-to-end CPU demo: demo data -> proposals -> '
        'pretraining -> export -> fine-tuning on a fraction of the labels '
        '-> evaluation -> report.md with plots. Resumable.')
    parser.add_argument(
        '--methods', nargs='+', default=['alfm'],
        metavar='NAME|CONFIG',
        help='pretraining methods, in report order (default: alfm): a '
        'method name (its demo config: the entry of '
        'configs/<name>/metafile.yml marked `Demo: true`) or a pretraining '
        'config (.py); the BYOL baseline and random init always run '
        'alongside; "all" = every method with a demo config')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default=DEFAULT_DATA,
                        help='demo data root (generated when missing)')
    parser.add_argument(
        '--label-fraction', type=float, default=0.25,
        help='fraction of the train images whose labels fine-tuning uses '
        '(default 0.25: 60 of the 240 demo images)')
    parser.add_argument(
        '--finetune-iters', type=int, default=None,
        help='approximate fine-tuning iterations (whole epochs over the '
        f'subset; default {FINETUNE_ITERS}, --tiny 1 epoch)')
    parser.add_argument('--seed', type=int, default=1,
                        help='seed of the labelled subset')
    parser.add_argument(
        '--finetune-seeds', type=int, default=FINETUNE_SEEDS,
        help='fine-tuning runs per init (seeds 0..N-1; the report gives '
        f'AP mean +- std when N > 1; default {FINETUNE_SEEDS}); each seed '
        'costs about 2.5 min per init at the default schedule')
    parser.add_argument(
        '--tiny', action='store_true',
        help='seconds-long variant (tests): tiny images, 1 epoch per run')
    parser.add_argument('--nproc', type=int, default=2,
                        help='processes for selective search')
    parser.add_argument('--quiet', action='store_true',
                        help='progress lines only (tool output goes to '
                        'WORK_DIR/logs/)')
    parser.add_argument(
        '--in-process', action='store_true',
        help='run the tools in this process (faster start-up; tests)')
    parser.add_argument(
        '--proposals', choices=('ss', 'detector'), default='ss',
        help='boxes SoCo/ALFM pretrain on: ss (selective search, default) '
        'or detector (the demo detector\'s boxes; needs '
        '--proposal-checkpoint)')
    parser.add_argument(
        '--proposal-checkpoint',
        help='trained demo detector for --proposals detector (e.g. a '
        'fine-tuning checkpoint of an earlier demo run)')
    return parser.parse_args(argv)


def make_options(args: argparse.Namespace) -> DemoOptions:
    """Validate the arguments into :class:`DemoOptions`."""
    methods, configs = resolve_methods(args.methods)
    if not 0 < args.label_fraction <= 1:
        raise DemoError(f'--label-fraction must be in (0, 1], got '
                        f'{args.label_fraction}')
    iters = args.finetune_iters
    if iters is None:
        iters = 1 if args.tiny else FINETUNE_ITERS
    if iters < 1:
        raise DemoError(f'--finetune-iters must be >= 1, got {iters}')
    if args.finetune_seeds < 1:
        raise DemoError('--finetune-seeds must be >= 1, got '
                        f'{args.finetune_seeds}')
    return DemoOptions(
        methods=methods,
        work_dir=osp.abspath(args.work_dir),
        data=osp.abspath(args.data),
        label_fraction=args.label_fraction,
        finetune_iters=iters,
        seed=args.seed,
        finetune_seeds=args.finetune_seeds,
        tiny=args.tiny,
        nproc=args.nproc,
        quiet=args.quiet,
        in_process=args.in_process,
        configs=configs,
        **proposal_choice(args))


def _apis():
    """:mod:`mmalfm.apis.methods` (this checkout's package)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    from mmalfm.apis import methods
    return methods


def resolve_methods(args: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """``--methods`` as method names in report order (no duplicates, the
    BYOL baseline last) and the configs given instead of names.

    Raises:
        DemoError: An unknown name or config, or two configs of one method.
    """
    apis = _apis()
    names, configs = [], {}
    for arg in args:
        try:
            if arg == 'all':
                found = [(m, None) for m in apis.demo_methods(REPO)]
            elif arg.endswith('.py'):
                found = [apis.resolve_method(arg, REPO)]
            elif arg in apis.transfer_specs():
                found = [(arg, None)]
            else:
                raise DemoError(
                    f'--methods {arg}: not a method '
                    f'({", ".join(apis.transfer_specs())}) and not a '
                    '.py config')
        except apis.MethodConfigError as err:
            raise DemoError(str(err)) from err
        for name, config in found:
            if config and configs.get(name, config) != config:
                raise DemoError(
                    f'--methods: two configs of {name} ({configs[name]}, '
                    f'{config}); the demo runs one config per method.')
            if config:
                configs[name] = config
            if name not in names:
                names.append(name)
    names = [m for m in names if m != BASELINE] + [BASELINE]
    return names, configs


def pretrain_config(opts: 'DemoOptions', method: str) -> str:
    """The pretraining config of ``method``: the one given on the command
    line, else its demo config (:func:`find_config`)."""
    return opts.configs.get(method) or find_config(method)


def needs_proposals(opts: 'DemoOptions', method: str) -> bool:
    """Whether ``method``'s config trains on proposals (read from its data
    set and region sampler, :func:`mmalfm.apis.methods.needs_proposals`)."""
    return _apis().needs_proposals(
        osp.join(REPO, pretrain_config(opts, method)))


def export_flags(method: str) -> Tuple[str, ...]:
    """The export flags of ``method``'s transfer declaration (SoCo and ALFM
    pretrain the FPN and the 4conv1fc box head the demo detector has; the
    rest export the backbone)."""
    return _apis().transfer_specs()[method].export_flags


def proposal_choice(args: argparse.Namespace) -> dict:
    """``proposals`` and ``proposal_checkpoint`` of :class:`DemoOptions`.

    Raises:
        DemoError: ``--proposals detector`` without an existing
            ``--proposal-checkpoint``.
    """
    checkpoint = getattr(args, 'proposal_checkpoint', None)
    kind = getattr(args, 'proposals', 'ss')
    if kind == 'ss':
        if checkpoint:
            raise DemoError('--proposal-checkpoint is only used with '
                            '--proposals detector')
        return dict(proposals=kind)
    if not checkpoint or not osp.isfile(checkpoint):
        given = f' ({checkpoint!r} does not exist)' if checkpoint else ''
        raise DemoError(
            f'--proposals detector needs --proposal-checkpoint PATH{given}: '
            f'a trained checkpoint of the demo detector ({DETECTOR}); a '
            'randomly initialised one gives random boxes. Train one first: '
            'run the demo with selective-search proposals (the default) and '
            'pass the last checkpoint of a fine-tuning, e.g. '
            'WORK_DIR/finetune/random/epoch_*.pth, or train it alone with '
            f'`python tools/train.py {DETECTOR_RANDOM}`.')
    return dict(proposals=kind, proposal_checkpoint=osp.abspath(checkpoint))


def build_plan(opts: DemoOptions) -> List[Stage]:
    """The stages for ``opts``, in order."""
    plan = [
        Stage('data', 'demo data', stage_data,
              lambda o: [osp.join(o.coco, TRAIN_ANN),
                         osp.join(o.coco, VAL_ANN)])
    ]
    if any(needs_proposals(opts, m) for m in opts.methods):
        plan.append(
            Stage('proposals', 'detector proposals' if opts.proposals ==
                  'detector' else 'selective-search proposals',
                  stage_proposals, lambda o: [o.proposal_file]))
    for method in opts.methods:
        plan.append(
            Stage(f'pretrain_{method}', f'pretrain {method}',
                  _bind(stage_pretrain, method),
                  _bind(lambda o, m: [last_checkpoint(pretrain_dir(o, m))],
                        method)))
    for method in opts.methods:
        plan.append(
            Stage(f'export_{method}', f'export {method}',
                  _bind(stage_export, method),
                  _bind(lambda o, m: [export_path(o, m)], method)))
    for init in opts.inits:
        plan.append(
            Stage(f'probe_{init}', f'region probe of {init}',
                  _bind(stage_probe, init),
                  _bind(lambda o, i: [probe_path(o, i)], init)))
    plan.append(
        Stage('labels', f'labelled subset ({opts.label_fraction:g})',
              stage_labels, lambda o: [subset_path(o)]))
    runs = [(init, seed) for init in opts.inits
            for seed in range(opts.finetune_seeds)]
    for init, seed in runs:
        key, tag = run_key(init, seed), f' (seed {seed})' if seed else ''
        plan.append(
            Stage(f'finetune_{key}', f'fine-tune from {init}{tag}',
                  _bind(stage_finetune, (init, seed)),
                  _bind(lambda o, i, s:
                        [last_checkpoint(finetune_dir(o, i, s))],
                        (init, seed))))
    for init, seed in runs:
        key, tag = run_key(init, seed), f' (seed {seed})' if seed else ''
        plan.append(
            Stage(f'evaluate_{key}', f'evaluate {init}{tag}',
                  _bind(stage_evaluate, (init, seed)),
                  _bind(lambda o, i, s: [metrics_path(o, i, s)],
                        (init, seed))))
    # the report is cheap and always rewritten from the records
    plan.append(Stage('report', 'report', stage_report))
    return plan


def _bind(func: Callable, key) -> Callable:
    """``func(opts, key)``, or ``func(opts, *key)`` for a tuple key."""
    args = key if isinstance(key, tuple) else (key, )
    return lambda opts: func(opts, *args)


def run_key(init: str, seed: int = 0) -> str:
    """The name of a fine-tuning run: ``init`` for the config's seed (0),
    ``<init>_seed<k>`` for the others (stages, work dirs)."""
    return init if seed == 0 else f'{init}_seed{seed}'


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------
def pretrain_dir(opts: DemoOptions, method: str) -> str:
    return osp.join(opts.work_dir, 'pretrain', method)


def finetune_dir(opts: DemoOptions, init: str, seed: int = 0) -> str:
    return osp.join(opts.work_dir, 'finetune', run_key(init, seed))


def export_path(opts: DemoOptions, method: str) -> str:
    return osp.join(opts.work_dir, 'export', f'{method}_mmdet.pth')


def subset_path(opts: DemoOptions) -> str:
    pct = f'{opts.label_fraction * 100:g}'
    return osp.join(opts.work_dir, 'labels',
                    f'instances_train2017_{pct}pct_seed{opts.seed}.json')


def probe_path(opts: DemoOptions, init: str) -> str:
    return osp.join(opts.work_dir, 'probe', f'{init}.json')


def metrics_path(opts: DemoOptions, init: str, seed: int = 0) -> str:
    return osp.join(finetune_dir(opts, init, seed), 'metrics.json')


def record_path(opts: DemoOptions, stage: str) -> str:
    return osp.join(opts.work_dir, 'stages', f'{stage}.json')


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint named by ``work_dir/last_checkpoint`` ('' if none)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return ''
    with open(pointer) as f:
        path = f.read().strip()
    if path and not osp.isabs(path):
        # mmengine writes it relative to the cwd of the run (the repo)
        path = osp.join(REPO, path)
    return path


# --------------------------------------------------------------------------
# Pieces (configs and tools other parts of the project provide)
# --------------------------------------------------------------------------
def find_config(method: str) -> str:
    """The demo pretraining config of ``method`` (repo-relative): the entry
    of ``configs/<method>/metafile.yml`` marked ``Demo: true`` (every demo
    config uses the "r18q" demo backbone, so one detector fine-tunes every
    export).

    Raises:
        DemoError: None (or several) marked, naming the metafile and the
            fix.
    """
    apis = _apis()
    try:
        return apis.demo_config(method, REPO)
    except apis.MethodConfigError as err:
        raise DemoError(f'{method}: {err} Run the demo without {method} '
                        '(--methods ...) until it lands.') from err


def check_pieces(opts: DemoOptions) -> Dict[str, str]:
    """Fail early, naming every missing tool, config or algorithm.

    Returns:
        dict: Method -> pretraining config (repo-relative).

    Raises:
        DemoError: One message listing all missing pieces.
    """
    missing, configs = [], {}
    for name, tool in TOOLS.items():
        if not osp.isfile(osp.join(REPO, tool)):
            missing.append(f'tool {tool} ({name})')
    for cfg in (DETECTOR, DETECTOR_RANDOM):
        if not osp.isfile(osp.join(REPO, cfg)):
            missing.append(f'demo detector config {cfg}')
    for method in opts.methods:
        try:
            configs[method] = pretrain_config(opts, method)
        except DemoError as err:
            missing.append(str(err))
    if not missing:
        missing += _unregistered_models(configs)
    if missing:
        raise DemoError('cannot run the demo, missing pieces:\n  - ' +
                        '\n  - '.join(missing))
    return configs


def _unregistered_models(configs: Dict[str, str]) -> List[str]:
    """Model types of the pretraining configs that are not registered (a
    method whose algorithm has not landed yet)."""
    sys.path.insert(0, REPO)
    from mmengine.config import Config

    import mmalfm  # noqa: F401
    from mmalfm.registry import MODELS
    from mmalfm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    problems = []
    for method, path in configs.items():
        model_type = Config.fromfile(osp.join(REPO, path)).model['type']
        name = model_type.split('.')[-1]
        try:
            found = MODELS.get(name)
        except Exception:  # MMEngine raises on unknown scoped names
            found = None
        if found is None:
            problems.append(
                f'{method}: {path} builds model type {model_type!r}, which '
                'is not registered (the algorithm has not landed yet: '
                f'mmalfm/models/algorithms/{method}.py)')
    return problems


# --------------------------------------------------------------------------
# Running tools, records, progress
# --------------------------------------------------------------------------
class Progress:
    """One line per stage event: ``[demo +MM:SS] (k/n) title ...``."""

    def __init__(self, total: int, stream=None) -> None:
        self.start = time.time()
        self.total = total
        self.stream = stream or sys.stdout

    def say(self, index: int, text: str) -> None:
        elapsed = format_seconds(time.time() - self.start)
        prefix = f'[demo +{elapsed}]'
        if index:
            prefix += f' ({index}/{self.total})'
        print(f'{prefix} {text}', file=self.stream, flush=True)


def format_seconds(seconds: float) -> str:
    """``75.4`` -> ``'1:15'``; ``3725`` -> ``'1:02:05'``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f'{hours}:{minutes:02d}:{secs:02d}'
    return f'{minutes}:{secs:02d}'


def run_command(cmd: List[str], log_file: str, quiet: bool = False) -> None:
    """Run ``cmd`` from the repository root, streaming its output to
    ``log_file`` (appended) and, unless ``quiet``, to stdout.

    Raises:
        DemoError: Non-zero exit, with the command, the log file and the
            last lines of the output.
    """
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    env = pinned_env()
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, env.get('PYTHONPATH', '')) if p)
    env.setdefault('PYTHONUNBUFFERED', '1')
    tail: List[str] = []
    with open(log_file, 'a') as log:
        log.write(f'$ {" ".join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            for line in proc.stdout:
                log.write(line)
                tail = (tail + [line])[-40:]
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            code = proc.wait()
        except BaseException:  # Ctrl-C: stop the tool, keep its state
            proc.terminate()
            proc.wait()
            raise
    if code != 0:
        raise DemoError(
            f'command failed (exit {code}); full output in {log_file}:\n'
            f'  {" ".join(cmd)}\n--- last lines ---\n' + ''.join(tail))


def pinned_env() -> Dict[str, str]:
    """This process's environment with the demo's thread count and kernel
    ISA pinned (explicit user settings win); see
    :mod:`mmalfm.utils.cpu_numerics`."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    from mmalfm.utils.cpu_numerics import pinned_cpu_env
    return pinned_cpu_env(DEMO_THREADS)


def tool_command(tool: str, *args: str) -> List[str]:
    return [sys.executable, osp.join(REPO, TOOLS[tool]), *map(str, args)]


_TOOL_MODULES: Dict[str, object] = {}


def load_tool(tool: str):
    """Import ``TOOLS[tool]`` as a module (cached)."""
    if tool not in _TOOL_MODULES:
        import importlib.util
        path = osp.join(REPO, TOOLS[tool])
        spec = importlib.util.spec_from_file_location(f'demo_tool_{tool}',
                                                      path)
        module = importlib.util.module_from_spec(spec)
        # registered, so that multiprocessing can pickle its functions
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _TOOL_MODULES[tool] = module
    return _TOOL_MODULES[tool]


def run_tool(opts: 'DemoOptions', stage: str, tool: str, *args) -> None:
    """Run a tool of :data:`TOOLS` with ``args``: a subprocess logged to
    ``WORK_DIR/logs/<stage>.log`` or, with ``opts.in_process``, its
    ``main(argv)`` here.

    Raises:
        DemoError: The tool failed (non-zero exit or an exception).
    """
    args = [str(a) for a in args]
    if not opts.in_process:
        run_command(tool_command(tool, *args), log_file(opts, stage),
                    opts.quiet)
        return
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    cwd = os.getcwd()
    os.chdir(REPO)  # the tools resolve config paths from the repo root
    sys.stdout.flush()
    try:
        code = load_tool(tool).main(args)
    except SystemExit as err:
        code = err.code
    except Exception as err:
        raise DemoError(f'{TOOLS[tool]} {" ".join(args)} failed: '
                        f'{type(err).__name__}: {err}') from err
    finally:
        os.chdir(cwd)
        sys.stdout.flush()
    # an exit status (test.py returns its metrics instead)
    if isinstance(code, str) or (isinstance(code, int) and code != 0):
        raise DemoError(f'{TOOLS[tool]} {" ".join(args)} exited with {code}')


def in_process_options(stage: str, cfg) -> List[str]:
    """Unique MMEngine instance names for an in-process run: MMEngine's
    message hub and visualizer are global singletons by name (the configs
    name the visualizer ``'visualizer'``), so a second run in the same
    process would log into the first run's ``vis_data``."""
    name = f'demo_{stage}_{time.time_ns()}'
    options = [f'experiment_name={name}']
    if cfg.get('visualizer'):
        options.append(f'visualizer.name={name}')
    return options


def log_file(opts: DemoOptions, stage: str) -> str:
    return osp.join(opts.work_dir, 'logs', f'{stage}.log')


def load_record(opts: DemoOptions, stage: str) -> dict:
    path = record_path(opts, stage)
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def save_record(opts: DemoOptions, stage: str, record: dict) -> None:
    path = record_path(opts, stage)
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)  # atomic: a record is whole or absent


def is_done(opts: DemoOptions, stage: Stage) -> bool:
    """Recorded as done and every output still there."""
    record = load_record(opts, stage.name)
    return bool(record.get('done')) and all(
        p and osp.exists(p) for p in stage.outputs(opts))


#: Stages whose results depend on the fine-tuning options.
FINETUNE_STAGES = ('labels', 'finetune_', 'evaluate_')


def stage_params(opts: DemoOptions, stage: str) -> dict:
    """The options a stage's results depend on (kept in its record)."""
    params = dict(tiny=opts.tiny)
    if opts.proposals != 'ss' and stage in (
            'proposals', *(f'pretrain_{m}' for m in opts.methods
                           if needs_proposals(opts, m))):
        params['proposals'] = opts.proposals
    if stage.startswith(FINETUNE_STAGES):
        params.update(label_fraction=opts.label_fraction, seed=opts.seed,
                      finetune_iters=opts.finetune_iters)
    return params


def check_params(opts: DemoOptions, stage: str, record: dict) -> None:
    """Refuse to mix runs: a stage recorded with other options.

    Raises:
        DemoError: Naming the stage, both settings and the fix.
    """
    params = stage_params(opts, stage)
    if record and record.get('params', params) != params:
        raise DemoError(
            f'{opts.work_dir}: stage {stage} was run with '
            f'{record["params"]}, this run asks for {params}. Use another '
            '--work-dir, or delete the stage\'s outputs and records '
            f'(stages/{stage}.json and its work dir) to redo it.')


def run_stage(opts: DemoOptions, stage: Stage, index: int,
              progress: Progress) -> dict:
    """Run (or skip) one stage; its record accumulates the wall time of
    every attempt, so interrupted-and-resumed stages report their total."""
    record = load_record(opts, stage.name)
    if stage.name == 'report':
        record = {}
    check_params(opts, stage.name, record)
    params = stage_params(opts, stage.name)
    if stage.name != 'report' and is_done(opts, stage):
        progress.say(index, f'{stage.title}: done before '
                     f'({format_seconds(record.get("seconds", 0))}), '
                     'skipped')
        return record
    attempts = list(record.get('attempts', []))
    progress.say(index, f'{stage.title} ...')
    start = time.time()
    try:
        result = stage.run(opts) or {}
    except BaseException:
        attempts.append(round(time.time() - start, 1))
        save_record(opts, stage.name,
                    dict(done=False, attempts=attempts, params=params))
        raise
    attempts.append(round(time.time() - start, 1))
    record = dict(done=True, attempts=attempts,
                  seconds=round(sum(attempts), 1), params=params, **result)
    save_record(opts, stage.name, record)
    progress.say(index, f'{stage.title}: done in '
                 f'{format_seconds(record["seconds"])}')
    return record


# --------------------------------------------------------------------------
# Config overrides (other data root, tiny runs, fine-tuning schedule)
# --------------------------------------------------------------------------
def rebase_options(cfg, old: str, new: str) -> List[str]:
    """``--cfg-options`` moving every string starting with ``old`` (the
    configs' data root) under ``new``.

    Args:
        cfg (Config | dict): A loaded config.
        old (str): E.g. ``'data/demo/coco/'``.
        new (str): Replacement prefix.

    Returns:
        list[str]: ``'key.path=value'`` entries (list items by index).
    """
    options = []

    def walk(node, key):
        if isinstance(node, str):
            if node.startswith(old):
                options.append(f'{key}={new + node[len(old):]}')
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f'{key}.{k}' if key else str(k))
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                walk(v, f'{key}.{i}')

    walk(cfg._cfg_dict.to_dict() if hasattr(cfg, '_cfg_dict') else cfg, '')
    return options


def _load_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO, path))


def data_options(opts: DemoOptions, cfg) -> List[str]:
    """Rebase the config's demo data root onto ``opts.data``."""
    if osp.abspath(osp.join(REPO, DEFAULT_DATA)) == opts.data:
        return []
    return rebase_options(cfg, CONFIG_DATA_ROOT, opts.coco + '/')


def loader_options(cfg, loaders: Sequence[str]) -> List[str]:
    """No worker processes (tiny runs: start-up dominates)."""
    out = []
    for loader in loaders:
        if cfg.get(loader):
            out += [f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    return out


def pretrain_options(opts: DemoOptions, cfg) -> List[str]:
    options = data_options(opts, cfg)
    if opts.tiny:
        options += loader_options(cfg, ['train_dataloader'])
        options += [
            'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.interval=1'
        ]
    return options


def finetune_epochs(opts: DemoOptions, num_images: int,
                    batch_size: int) -> int:
    """Whole epochs over the subset closest to ``opts.finetune_iters``."""
    per_epoch = math.ceil(num_images / batch_size)
    return max(1, round(opts.finetune_iters / per_epoch))


def finetune_options(opts: DemoOptions, cfg, num_images: int) -> List[str]:
    """The labelled subset, the schedule scaled to ``epochs`` (the config's
    12-epoch step schedule: steps at 8/12 and 11/12) and tiny settings."""
    batch_size = cfg.train_dataloader.batch_size
    if opts.tiny:
        batch_size = 4
    epochs = finetune_epochs(opts, num_images, batch_size)
    iters = epochs * math.ceil(num_images / batch_size)
    warmup = cfg.param_scheduler[0]
    milestones = sorted({max(1, round(epochs * 8 / 12)),
                         max(1, round(epochs * 11 / 12))})
    options = data_options(opts, cfg) + [
        f'train_dataloader.dataset.ann_file={subset_path(opts)}',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
        f'param_scheduler.1.end={epochs}',
        f'param_scheduler.1.milestones=[{",".join(map(str, milestones))}]',
        # a checkpoint every quarter of the run: an interrupted one resumes
        f'default_hooks.checkpoint.interval={max(1, epochs // 4)}',
        'default_hooks.checkpoint.max_keep_ckpts=1',
    ]
    if not warmup.get('by_epoch', True) and warmup['end'] > iters // 3:
        # a short run: warm up over its first third, not all of it
        options.append(f'param_scheduler.0.end={max(1, iters // 3)}')
    if opts.tiny:
        options += loader_options(
            cfg, ['train_dataloader', 'val_dataloader', 'test_dataloader'])
        options += [
            f'train_dataloader.batch_size={batch_size}',
            'default_hooks.logger.interval=1',
        ]
        options += resize_options(cfg, TINY_SCALE)
    return options


def resize_options(cfg, scale: Tuple[int, int]) -> List[str]:
    """Set the ``Resize`` scale of every detection pipeline."""
    options = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader]['dataset']['pipeline']
        for i, step in enumerate(pipeline):
            if step['type'].split('.')[-1] == 'Resize':
                options.append(f'{loader}.dataset.pipeline.{i}.scale='
                               f'({scale[0]},{scale[1]})')
    return options


def eval_options(opts: DemoOptions, cfg) -> List[str]:
    options = data_options(opts, cfg)
    if opts.tiny:
        options += loader_options(cfg, ['test_dataloader'])
        options += [o for o in resize_options(cfg, TINY_SCALE)
                    if o.startswith('test_')]
    return options


# --------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------
def stage_data(opts: DemoOptions) -> dict:
    """Generate the demo data unless both annotation files exist."""
    anns = [osp.join(opts.coco, TRAIN_ANN), osp.join(opts.coco, VAL_ANN)]
    if not all(osp.isfile(a) for a in anns):
        args = [opts.data]
        if opts.tiny:
            for key, value in TINY_DATA.items():
                args += [f'--{key.replace("_", "-")}', str(value)]
        run_tool(opts, 'data', 'make_demo_data', *args)
    with open(anns[0]) as f:
        train = json.load(f)
    with open(anns[1]) as f:
        val = json.load(f)
    return dict(num_train=len(train['images']), num_val=len(val['images']),
                num_train_boxes=len(train['annotations']))


def stage_proposals(opts: DemoOptions) -> dict:
    """Selective search over the train images (the tool is resumable), or
    the demo detector's boxes with ``--proposals detector``."""
    out = opts.proposal_file
    if opts.proposals == 'detector':
        if not osp.isfile(out):
            run_tool(opts, 'proposals', 'detector_proposals', DETECTOR,
                     opts.proposal_checkpoint,
                     osp.join(opts.coco, TRAIN_ANN), out, '--img-prefix',
                     osp.join(opts.coco, 'train2017'), '--score-thr',
                     DETECTOR_SCORE_THR)
        return dict(file=out, checkpoint=opts.proposal_checkpoint)
    if not osp.isfile(out):
        run_tool(opts, 'proposals', 'selective_search',
                 osp.join(opts.coco, TRAIN_ANN), out, '--img-prefix',
                 osp.join(opts.coco, 'train2017'), '--nproc', opts.nproc)
    return dict(file=out)


def proposal_options(opts: DemoOptions, method: str) -> List[str]:
    """``--cfg-options`` pointing SoCo/ALFM at the detector's boxes (what
    their ``*_detector-proposals_demo.py`` configs change)."""
    if opts.proposals != 'detector' or not needs_proposals(opts, method):
        return []
    return [f'train_dataloader.dataset.proposal_file={DETECTOR_PROPOSALS}']


def stage_pretrain(opts: DemoOptions, method: str) -> dict:
    """``tools/train.py`` on the method's demo config (``--resume`` when its
    work dir has a checkpoint)."""
    config = pretrain_config(opts, method)
    work_dir = pretrain_dir(opts, method)
    args = [config, '--work-dir', work_dir]
    if last_checkpoint(work_dir):
        args.append('--resume')
    cfg = _load_config(config)
    options = pretrain_options(opts, cfg) + proposal_options(opts, method)
    if opts.in_process:
        options += in_process_options(f'pretrain_{method}', cfg)
    if options:
        args += ['--cfg-options', *options]
    run_tool(opts, f'pretrain_{method}', 'train', *args)
    checkpoint = last_checkpoint(work_dir)
    if not checkpoint:
        raise DemoError(f'{work_dir}: training finished without a '
                        'checkpoint (last_checkpoint missing)')
    return dict(config=config, checkpoint=checkpoint)


def stage_export(opts: DemoOptions, method: str) -> dict:
    """Export the online network for the demo detector, checked against
    it."""
    checkpoint = last_checkpoint(pretrain_dir(opts, method))
    if not checkpoint:
        raise DemoError(f'export {method}: no checkpoint in '
                        f'{pretrain_dir(opts, method)} (pretrain first)')
    out = export_path(opts, method)
    os.makedirs(osp.dirname(out), exist_ok=True)
    flags = export_flags(method)
    run_tool(opts, f'export_{method}', 'export', checkpoint, out, *flags,
             '--check', DETECTOR)
    if not osp.isfile(out):
        raise DemoError(f'export {method}: {out} was not written')
    return dict(checkpoint=checkpoint, export=out, flags=list(flags))


def stage_probe(opts: DemoOptions, init: str) -> dict:
    """The region probe (docs/user_guides/region_probe.md) of ``init``'s
    export, or of the detector's random init: frozen backbone features of
    the ground-truth boxes, linear / kNN / box probes. Deterministic and
    seconds long, so it runs for every init."""
    target = RANDOM if init == RANDOM else export_path(opts, init)
    if init != RANDOM and not osp.isfile(target):
        raise DemoError(f'probe {init}: no export {target} (run the '
                        f'export_{init} stage)')
    out = probe_path(opts, init)
    os.makedirs(osp.dirname(out), exist_ok=True)
    # Backbone features for every init: what all methods pretrain, so the
    # rows compare like with like (an FPN export would otherwise be probed
    # on P2-P5 and random init on C2-C5).
    run_tool(opts, f'probe_{init}', 'region_probe', target, '--config',
             DETECTOR, '--data-root', opts.data, '--features', 'backbone',
             '--folds', PROBE_FOLDS, '--threads', '1', '--json', out)
    with open(out) as f:
        result = json.load(f)
    keys = ('linear_acc', 'linear_mean_class_acc', 'knn_acc',
            'box_iou_refined', 'num_val_boxes', 'features', 'cv_folds',
            'cv_num_boxes', 'cv_linear_acc', 'cv_knn_acc',
            'cv_linear_correct', 'cv_knn_correct', 'features_sha256')
    return {k: result.get(k) for k in keys}


def stage_labels(opts: DemoOptions) -> dict:
    """The labelled subset the detectors fine-tune on."""
    out = subset_path(opts)
    run_tool(opts, 'labels', 'make_coco_subset',
             osp.join(opts.coco, TRAIN_ANN), out, '--percent',
             f'{opts.label_fraction * 100:g}', '--seed', opts.seed)
    with open(out) as f:
        subset = json.load(f)
    return dict(file=out, num_images=len(subset['images']),
                num_boxes=len(subset['annotations']))


def stage_finetune(opts: DemoOptions, init: str, seed: int = 0) -> dict:
    """The demo detector from ``init`` on the labelled subset, evaluated on
    the val images at the end."""
    config = DETECTOR_RANDOM if init == RANDOM else DETECTOR
    work_dir = finetune_dir(opts, init, seed)
    key = run_key(init, seed)
    num_images = load_record(opts, 'labels').get('num_images')
    if not num_images:
        with open(subset_path(opts)) as f:
            num_images = len(json.load(f)['images'])
    cfg = _load_config(config)
    options = finetune_options(opts, cfg, num_images)
    if init != RANDOM:
        export = export_path(opts, init)
        if not osp.isfile(export):
            raise DemoError(f'fine-tune {init}: no export {export} (run the '
                            f'export_{init} stage)')
        options.append(f'model.init_cfg.checkpoint={export}')
    if seed:
        options.append(f'randomness.seed={seed}')
    args = [config, '--work-dir', work_dir]
    if last_checkpoint(work_dir):
        args.append('--resume')
    if opts.in_process:
        options += in_process_options(f'finetune_{key}', cfg)
    run_tool(opts, f'finetune_{key}', 'train', *args, '--cfg-options',
             *options)
    epochs = int(next(o for o in options if o.startswith(
        'train_cfg.max_epochs=')).split('=')[1])
    return dict(config=config, epochs=epochs, seed=seed,
                iterations=epochs * math.ceil(
                    num_images / (4 if opts.tiny else
                                  cfg.train_dataloader.batch_size)),
                checkpoint=last_checkpoint(work_dir))


def stage_evaluate(opts: DemoOptions, init: str, seed: int = 0) -> dict:
    """The final evaluation of the fine-tuned detector: from the run's own
    validation, or ``tools/test.py`` on its last checkpoint when the run was
    interrupted between its last checkpoint and that validation."""
    work_dir = finetune_dir(opts, init, seed)
    key = run_key(init, seed)
    metrics = final_metrics(work_dir)
    source = 'validation at the end of fine-tuning'
    if metrics is None:
        config = DETECTOR_RANDOM if init == RANDOM else DETECTOR
        checkpoint = last_checkpoint(work_dir)
        if not checkpoint:
            raise DemoError(f'evaluate {init}: no checkpoint in {work_dir}')
        out = osp.join(work_dir, 'test_metrics.json')
        args = [config, checkpoint, '--work-dir',
                osp.join(work_dir, 'test'), '--out', out]
        cfg = _load_config(config)
        options = eval_options(opts, cfg)
        if opts.in_process:
            options += in_process_options(f'evaluate_{key}', cfg)
        if options:
            args += ['--cfg-options', *options]
        run_tool(opts, f'evaluate_{key}', 'test', *args)
        with open(out) as f:
            metrics = json.load(f)
        source = f'tools/test.py {osp.relpath(checkpoint, opts.work_dir)}'
    metrics = {k: float(metrics[k]) for k in AP_KEYS if k in metrics}
    if AP_KEYS[0] not in metrics:
        raise DemoError(f'evaluate {init}: no {AP_KEYS[0]} in the '
                        f'evaluation of {work_dir}')
    out = metrics_path(opts, init, seed)
    with open(out, 'w') as f:
        json.dump(dict(metrics=metrics, source=source), f, indent=1)
    return dict(metrics=metrics, source=source)


def stage_report(opts: DemoOptions) -> dict:
    """``report.md`` and the plots, from the stage records and logs."""
    path = write_report(opts)
    return dict(file=path)


# --------------------------------------------------------------------------
# Logs, results, report
# --------------------------------------------------------------------------
def scalar_rows(work_dir: str) -> List[dict]:
    """All rows of the run's ``*/vis_data/scalars.json`` files (several when
    resumed), oldest run first; for a step logged twice (a resumed run
    repeats it) the later row wins."""
    rows = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def loss_curve(work_dir: str) -> Tuple[List[int], List[float]]:
    """``(iterations, total loss)`` of the training logs."""
    by_step = OrderedDict()
    for row in scalar_rows(work_dir):
        if 'loss' in row and 'step' in row:
            by_step[int(row['step'])] = float(row['loss'])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def final_metrics(work_dir: str) -> Optional[dict]:
    """The last COCO evaluation logged by the run, or None."""
    found = None
    for row in scalar_rows(work_dir):
        if AP_KEYS[0] in row:
            found = row
    return found


def collect_results(opts: DemoOptions) -> List[dict]:
    """One row per fine-tuning run (random init first)."""
    rows = []
    for init in opts.inits:
        ev = load_record(opts, f'evaluate_{init}')
        ft = load_record(opts, f'finetune_{init}')
        pre = load_record(opts, f'pretrain_{init}') if init != RANDOM else {}
        metrics = ev.get('metrics', {}) if ev.get('done') else {}
        rows.append(
            dict(init=init,
                 config=pre.get('config', ''),
                 ap=100 * metrics[AP_KEYS[0]] if metrics else None,
                 ap50=100 * metrics[AP_KEYS[1]] if metrics else None,
                 ap75=(100 * metrics[AP_KEYS[2]]
                       if AP_KEYS[2] in metrics else None),
                 pretrain_s=pre.get('seconds') if pre.get('done') else None,
                 finetune_s=ft.get('seconds') if ft.get('done') else None,
                 iterations=ft.get('iterations')))
    return rows


def seed_summary(opts: DemoOptions) -> List[dict]:
    """Per init, the final AP (%) of every finished fine-tuning seed, their
    mean and sample standard deviation (None below two seeds)."""
    rows = []
    for init in opts.inits:
        values = []
        for seed in range(opts.finetune_seeds):
            record = load_record(opts, f'evaluate_{run_key(init, seed)}')
            if record.get('done'):
                values.append(100 * record['metrics'][AP_KEYS[0]])
        mean = sum(values) / len(values) if values else None
        std = (math.sqrt(sum((v - mean)**2 for v in values) /
                         (len(values) - 1)) if len(values) > 1 else None)
        rows.append(dict(init=init, values=values, mean=mean, std=std))
    return rows


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test of the means of ``a`` and ``b``
    (at least 2 values each; 0 when both have no spread but differ, 1
    when they are equal)."""
    from scipy import stats
    if statistics.variance(a) == 0 and statistics.variance(b) == 0:
        return 1.0 if statistics.mean(a) == statistics.mean(b) else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def seed_lines(opts: DemoOptions) -> List[str]:
    """The report's fine-tuning-over-seeds section (only with several
    seeds)."""
    if opts.finetune_seeds < 2:
        return []
    rows = seed_summary(opts)
    base = rows[0]
    lines = ['## Fine-tuning over seeds', '']
    last = opts.finetune_seeds - 1
    lines.append(f'The same fine-tuning with seeds 0..{last}'
                 ' (`randomness.seed`; 0 is the config\'s, the table above)'
                 '; AP<sup>bb</sup> in %.')
    lines.append('')
    lines.append('| init | AP<sup>bb</sup> mean ± std (n) | per seed | '
                 'Δ mean vs random |')
    lines.append('|---|---|---|---|')
    for row in rows:
        if row['mean'] is None:
            continue
        n = len(row['values'])
        spread = f' ± {row["std"]:.1f}' if row['std'] is not None else ''
        delta = '—'
        if row is not base and base['mean'] is not None:
            diff = row['mean'] - base['mean']
            delta = f'{diff:+.1f}'
            if row['std'] is not None and base['std'] is not None:
                p = welch_p(row['values'], base['values'])
                delta += (f' (p = {p:.2f}, ' +
                          ('beyond noise)' if p < 0.05 else 'within noise)'))
        name = 'random init' if row['init'] == RANDOM else row['init']
        lines.append(f'| {name} | {row["mean"]:.1f}{spread} ({n}) | ' +
                     ' / '.join(f'{v:.1f}' for v in row['values']) +
                     f' | {delta} |')
    lines.append('')
    lines.append('p is the two-sided p-value of Welch\'s t-test of the '
                 'two inits\' seeds; a difference is "beyond noise" at '
                 'p < 0.05. With 2 seeds each only a difference of several '
                 'standard deviations gets there: the t-test accounts for '
                 'how poorly 2 seeds estimate their spread.')
    lines.append('')
    return lines


def collect_probes(opts: DemoOptions) -> List[dict]:
    """One row per init with a finished probe (random init first)."""
    rows = []
    for init in opts.inits:
        record = load_record(opts, f'probe_{init}')
        if record.get('done'):
            rows.append(dict(record, init=init))
    return rows


def paired_delta(row: dict, base: dict, key: str) -> str:
    """``'+d ± se (beyond|within noise)'``: the accuracy difference of two
    probes on the same boxes with its paired standard error
    (:func:`mmalfm.evaluation.region_probe.paired_difference`)."""
    from mmalfm.evaluation.region_probe import paired_difference
    a, b = row.get(key), base.get(key)
    if not a or not b or len(a) != len(b):
        return '—'
    diff, se = paired_difference(a, b)
    verdict = 'beyond noise' if abs(diff) > 2 * se else 'within noise'
    return f'{diff:+.1f} ± {se:.1f} ({verdict})'


def probe_lines(opts: DemoOptions) -> List[str]:
    """The report's region-probe section (empty without probes)."""
    rows = collect_probes(opts)
    if not rows:
        return []
    base = rows[0] if rows[0]['init'] == RANDOM else None
    lines = ['## Region probe', '']
    lines.append(
        'Frozen backbone features (C2-C5) of the ground-truth boxes '
        '(RoIAlign 7x7 at the level the detector assigns), closed-form '
        'linear classifier, kNN and a linear box-refinement probe '
        '(`tools/analysis/region_probe.py`, docs/user_guides/region_probe.md'
        '). Deterministic: the same numbers on every run on this machine.')
    lines.append('')
    lines.append(
        f'Accuracies by {rows[0].get("cv_folds")}-fold cross-validation over '
        f'the {rows[0].get("cv_num_boxes")} boxes of the train and val '
        'images (the boxes of an image are predicted by a probe fitted '
        'without that image). Δ vs random init is paired: the same boxes, '
        'so its standard error is that of the per-box difference; "beyond '
        'noise" means more than twice it (about 95 %). The last columns '
        'are the plain train / val split.')
    lines.append('')
    lines.append('| init | linear acc. (%) | kNN acc. (%) | Δ linear vs '
                 'random | Δ kNN vs random | linear, val split (%) | '
                 'box IoU refined |')
    lines.append('|---|---|---|---|---|---|---|')
    for row in rows:
        deltas = ['—', '—']
        if base is not None and row is not base:
            deltas = [paired_delta(row, base, f'cv_{kind}_correct')
                      for kind in ('linear', 'knn')]
        name = 'random init' if row['init'] == RANDOM else row['init']
        lines.append(
            f'| {name} | {_fmt(row.get("cv_linear_acc"))} | '
            f'{_fmt(row.get("cv_knn_acc"))} | {deltas[0]} | {deltas[1]} | '
            f'{_fmt(row.get("linear_acc"))} | '
            f'{_fmt(row.get("box_iou_refined"), 3)} |')
    lines.append('')
    return lines


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return '—' if value is None else f'{value:.{digits}f}'


def _fmt_time(seconds: Optional[float]) -> str:
    return '—' if seconds is None else format_seconds(seconds)


def write_report(opts: DemoOptions) -> str:
    """Write ``report.md`` and the PNG plots; return the report's path."""
    os.makedirs(opts.work_dir, exist_ok=True)
    rows = collect_results(opts)
    plots = draw_plots(opts, rows)
    data = load_record(opts, 'data')
    labels = load_record(opts, 'labels')
    finetune = next((load_record(opts, f'finetune_{i}') for i in opts.inits
                     if load_record(opts, f'finetune_{i}').get('done')), {})
    random_ap = rows[0]['ap']

    lines = ['# mmalfm demo report', '']
    lines.append(
        f'Generated {time.strftime("%Y-%m-%d %H:%M:%S %Z")} by '
        '`tools/demo/run_demo.py` on '
        f'{platform.node() or "this machine"} ({os.cpu_count()} CPU cores, '
        f'{platform.processor() or platform.machine()}). '
        'Every number below is measured in this work dir\'s run(s); times '
        'are wall times including tool start-up (summed over interrupted '
        'attempts).')
    lines.append('')
    pins = pinned_env()
    lines.append(
        ('* CPU numerics (in-process run: the tools ran in this process, '
         'whose settings were: ' if opts.in_process else
         '* CPU numerics: every tool ran with ')
        + ', '.join(f'`{k}={pins[k]}`' for k in (
            'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'ATEN_CPU_CAPABILITY',
            'ONEDNN_MAX_CPU_ISA', 'MKL_CBWR'))
        + ' (thread count and kernel ISA change the rounding, and a '
        'fine-tune\'s AP with it; see docs/user_guides/demo.md)')
    lines.append('')
    lines.append(
        f'* data: `{_rel(opts.data)}`, {data.get("num_train", "?")} train / '
        f'{data.get("num_val", "?")} val images (4 shape classes)'
        + (' — **tiny variant**' if opts.tiny else ''))
    lines.append(
        f'* fine-tuning labels: {opts.label_fraction:g} of the train images '
        f'({labels.get("num_images", "?")} images, '
        f'{labels.get("num_boxes", "?")} boxes, subset seed {opts.seed})')
    lines.append(
        f'* detector: `{DETECTOR}` (random init: its `_random-init` twin), '
        f'{finetune.get("epochs", "?")} epochs = '
        f'{finetune.get("iterations", "?")} iterations, evaluated on all '
        'val images (COCO box AP)')
    lines.append('')
    lines.append('| pretraining | AP<sup>bb</sup> | AP<sup>bb</sup><sub>50</sub>'
                 ' | AP<sup>bb</sup><sub>75</sub> | Δ AP<sup>bb</sup> vs random'
                 ' | pretraining time | fine-tune time | config |')
    lines.append('|---|---|---|---|---|---|---|---|')
    for row in rows:
        delta = (None if row['ap'] is None or random_ap is None
                 or row['init'] == RANDOM else row['ap'] - random_ap)
        delta_s = '—' if delta is None else f'{delta:+.1f}'
        config = f'`{row["config"]}`' if row['config'] else '—'
        name = 'random init' if row['init'] == RANDOM else row['init']
        if row['init'] == BASELINE:
            name += ' (baseline)'
        lines.append(
            f'| {name} | {_fmt(row["ap"])} | {_fmt(row["ap50"])} | '
            f'{_fmt(row["ap75"])} | {delta_s} | '
            f'{_fmt_time(row["pretrain_s"]) if row["init"] != RANDOM else "—"}'
            f' | {_fmt_time(row["finetune_s"])} | {config} |')
    lines.append('')
    more = ('read the seeds table below' if opts.finetune_seeds > 1 else
            'run several with `--finetune-seeds`')
    lines.append('Fine-tune time includes the final evaluation on the val '
                 'images. This table is the config\'s seed (0) alone: with '
                 f'{labels.get("num_images", "?")} labelled images one seed '
                 f'is not a ranking; {more} '
                 '(`tools/benchmarks/run_seeds.py` for the full-scale '
                 'benchmarks).')
    lines.append('')
    lines += seed_lines(opts)
    lines += probe_lines(opts)
    lines.append('## Plots')
    lines.append('')
    for title, name in plots:
        lines.append(f'![{title}]({name})')
        lines.append('')
    lines.append('## Stages')
    lines.append('')
    lines.append('| stage | wall time | attempts |')
    lines.append('|---|---|---|')
    total = 0.0
    for stage in build_plan(opts):
        if stage.name == 'report':
            continue
        record = load_record(opts, stage.name)
        seconds = record.get('seconds') if record.get('done') else None
        total += seconds or 0
        lines.append(f'| {stage.title} | {_fmt_time(seconds)} | '
                     f'{len(record.get("attempts", []))} |')
    lines.append(f'| **total** | **{format_seconds(total)}** | |')
    lines.append('')
    lines.append('## How to read this')
    lines.append('')
    lines.append(
        '* AP<sup>bb</sup> is COCO box AP (IoU 0.50:0.95), AP50 at IoU 0.5, '
        'in percent, of the same detector fine-tuned with the same labels '
        'and schedule; only the initialisation differs. "Δ vs random" is '
        'what pretraining bought over random init.')
    lines.append(
        '* BYOL is the image-level baseline (same backbone, same views); a '
        'region-level method is worth its cost if it beats BYOL.')
    lines.append(
        '* Pretraining loss curves are each method\'s own objective (their '
        'scales differ; look at the trend). See '
        '`docs/user_guides/demo.md`.')
    lines.append('')
    lines.append('Work dirs: `pretrain/<method>/`, `export/`, `labels/`, '
                 '`finetune/<init>/` (config dump, logs, checkpoints), '
                 '`logs/<stage>.log`, `stages/<stage>.json`.')
    path = osp.join(opts.work_dir, 'report.md')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def _rel(path: str) -> str:
    rel = osp.relpath(path, REPO)
    return path if rel.startswith('..') else rel


def draw_plots(opts: DemoOptions, rows: List[dict]) -> List[Tuple[str, str]]:
    """``loss_pretrain.png``, ``loss_finetune.png``, ``ap.png`` in the work
    dir; returns ``(title, file name)`` of each."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    out = []
    # pretraining losses: one panel per method (objectives differ)
    curves = [(m, loss_curve(pretrain_dir(opts, m))) for m in opts.methods]
    fig, axes = plt.subplots(
        1, len(curves), figsize=(3.2 * len(curves), 2.8), squeeze=False)
    for ax, (method, (steps, losses)) in zip(axes[0], curves):
        ax.plot(steps, losses, marker='.' if len(steps) < 20 else None)
        ax.set_title(method)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('pretraining loss')
    fig.tight_layout()
    fig.savefig(osp.join(opts.work_dir, 'loss_pretrain.png'), dpi=100)
    plt.close(fig)
    out.append(('pretraining loss per method', 'loss_pretrain.png'))

    # fine-tuning losses: same detector and loss, one axes
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for init in opts.inits:
        steps, losses = loss_curve(finetune_dir(opts, init))
        ax.plot(steps, losses, label=init,
                marker='.' if len(steps) < 20 else None)
    ax.set_xlabel('iteration')
    ax.set_ylabel('detector loss')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(osp.join(opts.work_dir, 'loss_finetune.png'), dpi=100)
    plt.close(fig)
    out.append(('fine-tuning loss per initialisation', 'loss_finetune.png'))

    # AP bars
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(rows), 3.2))
    width = 0.4
    xs = list(range(len(rows)))
    for offset, key, label in ((-width / 2, 'ap', 'AP'),
                               (width / 2, 'ap50', 'AP50')):
        values = [r[key] or 0.0 for r in rows]
        bars = ax.bar([x + offset for x in xs], values, width, label=label)
        for bar, value in zip(bars, values):
            ax.annotate(f'{value:.1f}', (bar.get_x() + bar.get_width() / 2,
                                         bar.get_height()),
                        ha='center', va='bottom', fontsize=7)
    ax.set_xticks(xs)
    ax.set_xticklabels([r['init'] for r in rows])
    ax.set_ylabel('box AP (%)')
    ax.legend()
    fig.tight_layout()
    fig.savefig(osp.join(opts.work_dir, 'ap.png'), dpi=100)
    plt.close(fig)
    out.append(('box AP per initialisation', 'ap.png'))
    return out


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------
def run_demo(opts: DemoOptions, stream=None) -> str:
    """Run every stage of ``opts`` (skipping finished ones).

    Returns:
        str: The path of ``report.md``.
    """
    progress = Progress(0, stream)
    progress.say(0, f'methods {", ".join(opts.methods)} + random init; '
                 f'work dir {_rel(opts.work_dir)}; data {_rel(opts.data)}'
                 + (' (tiny)' if opts.tiny else ''))
    opts.configs = check_pieces(opts)
    plan = build_plan(opts)
    progress.total = len(plan)
    for index, stage in enumerate(plan, 1):
        run_stage(opts, stage, index, progress)
    report = osp.join(opts.work_dir, 'report.md')
    progress.say(0, f'report: {_rel(report)}')
    return report


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point; returns the exit status."""
    # mmengine/mmcv import pkg_resources; the warning is noise here
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
    # `kill` (SIGTERM) like Ctrl-C: stop the running tool, record the
    # attempt's time, leave everything resumable
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        opts = make_options(parse_args(argv))
        run_demo(opts)
    except DemoError as err:
        print(f'[demo] error: {err}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('[demo] interrupted; run the same command again to resume',
              file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == '__main__':
    sys.exit(main())
