# Copyright (c) mmalfm contributors. All rights reserved.
"""The demo's command line, options and pieces: what to run and where, the
methods' demo configs (:mod:`mmalfm.apis.methods`) and the tools and
configs of this source checkout it needs."""
import argparse
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .. import methods as apis

#: The source checkout the demo runs in (its ``configs/`` and ``tools/``).
REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

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
#: The tools the demo runs: ``name -> (script, package module)``; the script
#: is the command line of the module's ``main(argv)``, which
#: ``--in-process`` calls instead.
_TOOLS = dict(
    make_demo_data=('tools/data/make_demo_data.py', 'mmalfm.apis.demo_data'),
    selective_search=('tools/data/selective_search.py',
                      'mmalfm.apis.selective_search'),
    detector_proposals=('tools/data/detector_proposals.py',
                        'mmalfm.apis.detector_proposals'),
    train=('tools/train.py', 'mmalfm.apis.train'),
    test=('tools/test.py', 'mmalfm.apis.test'),
    export=('tools/model_converters/export_to_mmdet.py',
            'mmalfm.apis.export_mmdet_cli'),
    region_probe=('tools/analysis/region_probe.py',
                  'mmalfm.evaluation.region_probe_cli'),
    make_coco_subset=('tools/data/make_coco_subset.py',
                      'mmalfm.apis.coco_subset'))
TOOLS = {name: script for name, (script, _) in _TOOLS.items()}
TOOL_MODULES = {name: module for name, (_, module) in _TOOLS.items()}

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


def resolve_methods(args: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """``--methods`` as method names in report order (no duplicates, the
    BYOL baseline last) and the configs given instead of names.

    Raises:
        DemoError: An unknown name or config, or two configs of one method.
    """
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
    return apis.needs_proposals(osp.join(REPO, pretrain_config(opts, method)))


def export_flags(method: str) -> Tuple[str, ...]:
    """The export flags of ``method``'s transfer declaration (SoCo and ALFM
    pretrain the FPN and the 4conv1fc box head the demo detector has; the
    rest export the backbone)."""
    return apis.transfer_specs()[method].export_flags


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


def find_config(method: str) -> str:
    """The demo pretraining config of ``method`` (repo-relative): the entry
    of ``configs/<method>/metafile.yml`` marked ``Demo: true`` (every demo
    config uses the "r18q" demo backbone, so one detector fine-tunes every
    export).

    Raises:
        DemoError: None (or several) marked, naming the metafile and the
            fix.
    """
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
    from mmengine.config import Config

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
