# Copyright (c) mmalfm contributors. All rights reserved.
"""Benchmark the real training step of a config.

Usage::

    python tools/analysis/benchmark.py CONFIG [--mode train|data|selective-search]
        [--iters N] [--warmup W] [--batch B] [--amp] [--repeat R]
        [--compare-byol BYOL_CONFIG [--byol-cfg-options k=v ...]]
        [--json OUT] [--cfg-options k=v ...]

``--mode train`` (default) builds the runner pieces exactly as
``tools/train.py`` does (``Runner.from_cfg`` in a temporary work dir, then
the train dataloader, the model and the optim wrapper) and runs the real
step: ``data_preprocessor`` -> ``model(mode='loss')`` -> ``parse_losses``
-> ``optim_wrapper.backward`` -> ``optim_wrapper.step``. The time is split
by wrapping methods of the built model (nothing in the algorithms is
edited); the sections are *exclusive* (a nested section's time is counted
in the nested one only):

* ``data``: waiting for the next batch (configured workers);
* ``preprocess``: the data preprocessor (normalisation, device copy);
* ``geometry``: ``collate_regions``, ``ViewGeometry.collate`` and the
  correspondence helpers the algorithm module imports (``id_correspondence``,
  ``scale_aware_slot_ids``, ``assign_soco_levels``, ...);
* ``online_forward`` / ``target_forward``: ``encode_views`` (by its
  ``target`` argument); for models without ``encode_views`` (MMPretrain's
  BYOL) ``target_forward`` is ``target_net`` and the rest of the forward is
  ``model_unsplit``;
* ``region_head``: ``pool_regions`` + ``embed_rois`` (RoI pooling, RoI head,
  projector, predictor, online and target);
* ``loss``: the rest of ``region_losses`` (or the head's ``loss``);
* ``backward``; ``optimizer``: ``step`` + ``zero_grad``; ``ema``: the target
  update (``update_target`` / ``target_net.update_parameters``).

The sampler's time is measured in-process on the same dataset
(``sampling`` per image: ``MultiViewCrop._sample`` = crop draws + region
sampler), as the workers' clocks are not visible to the main process.

The **floor** is the same backbone (a copy) doing a bare forward+backward on
the online views and a no-grad forward on the target views of a real batch
(same batch, same resolution; same-size views batched like
``batch_views``).

``--mode data`` iterates the train dataloader with ``num_workers=0`` and
with the configured workers (images/s and images/s per worker);
``--mode selective-search`` times
:func:`mmalfm.datasets.proposals.selective_search` against its pure-Python
reference on the images of ``--images`` (one process: per core).

Every mode prints a table and writes ``--json``. With ``--repeat R`` the
timed loop runs ``R`` times and the median is reported (``runs`` keeps all).
See ``docs/benchmarks.md``.
"""
import argparse
import contextlib
import copy
import functools
import glob
import json
import os
import os.path as osp
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

# Make `import mmalfm` work from a source checkout without installation.
sys.path.insert(
    0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402

import mmalfm  # noqa: E402,F401

#: Time sections of a training step, in report order.
SECTIONS = ('data', 'preprocess', 'geometry', 'online_forward',
            'target_forward', 'region_head', 'loss', 'model_unsplit',
            'backward', 'optimizer', 'ema')
#: Correspondence helpers timed as ``geometry`` where an algorithm module
#: imports them.
GEOMETRY_FUNCS = ('id_correspondence', 'scale_aware_slot_ids',
                  'assign_soco_levels', 'src_to_view', 'view_to_src',
                  'crop_intersection', 'grid_in_box', 'same_image_gallery',
                  'to_soco_normalized')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark a config\'s training step, its data '
        'pipeline, or selective search. See docs/benchmarks.md.')
    parser.add_argument('config', nargs='?',
                        help='config file (not needed for selective-search)')
    parser.add_argument('--mode', choices=('train', 'data',
                                           'selective-search'),
                        default='train')
    parser.add_argument('--iters', type=int, default=20,
                        help='timed iterations (images in selective-search '
                        'mode; default: 20)')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed iterations first (default: 3)')
    parser.add_argument('--batch', type=int,
                        help='override train_dataloader.batch_size')
    parser.add_argument('--amp', action='store_true',
                        help='AmpOptimWrapper (as tools/train.py --amp)')
    parser.add_argument('--repeat', type=int, default=1,
                        help='timed loops; the median is reported')
    parser.add_argument('--compare-byol', metavar='BYOL_CONFIG',
                        help='also benchmark this config (same batch, same '
                        'process) and report the ratios to it')
    parser.add_argument('--images', default='data/demo/coco/train2017',
                        help='selective-search mode: image folder or glob')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of CONFIG (as tools/train.py)')
    parser.add_argument('--byol-cfg-options', nargs='+', action=DictAction,
                        help='override settings of --compare-byol\'s config')
    args = parser.parse_args(argv)
    if args.mode != 'selective-search' and args.config is None:
        parser.error(f'--mode {args.mode} needs a CONFIG')
    if args.iters < 1 or args.warmup < 0 or args.repeat < 1:
        parser.error('--iters and --repeat must be >= 1, --warmup >= 0')
    if args.batch is not None and args.batch < 1:
        parser.error('--batch must be >= 1')
    return args


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------
class SectionTimer:
    """Exclusive wall-clock time per section, nesting-aware; synchronises
    CUDA at every boundary when ``cuda``."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.totals: Dict[str, float] = defaultdict(float)
        self._stack: List[list] = []  # [name, start, child time]
        self.enabled = True

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    @contextlib.contextmanager
    def section(self, name: str):
        if not self.enabled:
            yield
            return
        frame = [name, self._now(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            elapsed = self._now() - frame[1]
            self._stack.pop()
            self.totals[name] += elapsed - frame[2]
            if self._stack:
                self._stack[-1][2] += elapsed

    def wrap(self, fn: Callable, name) -> Callable:
        """``fn`` timed as ``name`` (a str, or ``f(args, kwargs) -> str``)."""

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            key = name(args, kwargs) if callable(name) else name
            with self.section(key):
                return fn(*args, **kwargs)

        return timed

    def reset(self) -> None:
        self.totals = defaultdict(float)

    @contextlib.contextmanager
    def disabled(self):
        """No sections recorded inside (the floor's own modules)."""
        self.enabled = False
        try:
            yield
        finally:
            self.enabled = True


class Patcher:
    """Set attributes and restore them on ``restore()``."""

    def __init__(self) -> None:
        self._saved: List[tuple] = []

    def set(self, obj, name: str, value) -> None:
        had = name in vars(obj) if hasattr(obj, '__dict__') else False
        self._saved.append((obj, name, had, vars(obj).get(name)))
        setattr(obj, name, value)

    def restore(self) -> None:
        for obj, name, had, old in reversed(self._saved):
            if had:
                setattr(obj, name, old)
            else:
                delattr(obj, name)
        self._saved.clear()


def instrument_model(model, timer: SectionTimer, patcher: Patcher) -> str:
    """Wrap the model's methods; returns ``'region'`` or ``'unsplit'``."""
    split = 'region' if hasattr(model, 'encode_views') and hasattr(
        model, 'region_losses') else 'unsplit'
    if split == 'region':
        patcher.set(
            model, 'encode_views',
            timer.wrap(
                model.encode_views, lambda a, k: 'target_forward'
                if k.get('target', a[2] if len(a) > 2 else False) else
                'online_forward'))
        for name, sec in (('region_losses', 'loss'),
                          ('collate_regions', 'geometry'),
                          ('pool_regions', 'region_head'),
                          ('embed_rois', 'region_head'),
                          ('update_target', 'ema')):
            if hasattr(model, name):
                patcher.set(model, name, timer.wrap(getattr(model, name),
                                                    sec))
        # module-level helpers the algorithm modules (and the base) import
        from mmalfm.structures import ViewGeometry
        patcher.set(ViewGeometry, 'collate',
                    classmethod(timer.wrap(
                        ViewGeometry.collate.__func__, 'geometry')))
        seen = set()
        for cls in type(model).__mro__:
            mod = sys.modules.get(cls.__module__)
            if mod is None or mod in seen or \
                    not cls.__module__.startswith('mmalfm'):
                continue
            seen.add(mod)
            for fname in GEOMETRY_FUNCS:
                fn = vars(mod).get(fname)
                if callable(fn):
                    patcher.set(mod, fname, timer.wrap(fn, 'geometry'))
    else:
        target_net = getattr(model, 'target_net', None)
        if target_net is not None:
            patcher.set(target_net, 'forward',
                        timer.wrap(target_net.forward, 'target_forward'))
            patcher.set(target_net, 'update_parameters',
                        timer.wrap(target_net.update_parameters, 'ema'))
        head = getattr(model, 'head', None)
        if head is not None and hasattr(head, 'loss'):
            patcher.set(head, 'loss', timer.wrap(head.loss, 'loss'))
    return split


def find_multi_view_crops(dataset) -> list:
    """``MultiViewCrop``-like transforms (with ``_sample``) in the pipeline
    of ``dataset`` or of the data sets it wraps."""
    found, todo, seen = [], [dataset], set()
    while todo:
        ds = todo.pop()
        if ds is None or id(ds) in seen:
            continue
        seen.add(id(ds))
        pipeline = getattr(ds, 'pipeline', None)
        for t in getattr(pipeline, 'transforms', []) or []:
            if hasattr(t, '_sample') and hasattr(t, 'region_sampler'):
                found.append(t)
        todo.extend([getattr(ds, 'dataset', None)] +
                    list(getattr(ds, 'datasets', []) or []))
    return found


def peak_memory_mb(cuda: bool) -> Dict[str, float]:
    if cuda:
        return dict(kind='cuda_max_memory_allocated',
                    mb=torch.cuda.max_memory_allocated() / 2**20)
    # Linux: ru_maxrss in KiB; process-wide peak (includes the build)
    return dict(kind='rss_peak',
                mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def median(values: List[float]) -> float:
    return float(statistics.median(values))


# --------------------------------------------------------------------------
# Runner pieces
# --------------------------------------------------------------------------
def load_cfg(path: str, args: argparse.Namespace, work_dir: str,
             options: Optional[dict] = None) -> Config:
    from mmalfm.utils import adapt_config_to_cpu
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    if args.batch is not None:
        cfg.train_dataloader.batch_size = args.batch
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.log_level = 'ERROR'
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    adapt_config_to_cpu(cfg, False)
    return cfg


def build_runner(cfg: Config):
    from mmengine.runner import Runner
    from mmalfm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    runner = Runner.from_cfg(cfg)
    loader = runner.build_dataloader(runner._train_dataloader,
                                     seed=runner.seed)
    optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    return runner, loader, optim_wrapper


def endless(loader):
    while True:
        yield from loader


def to_views(inputs) -> List[torch.Tensor]:
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def floor_step(backbone: torch.nn.Module, target: torch.nn.Module,
               online: List[torch.Tensor], tgt: List[torch.Tensor]) -> None:
    """Bare backbone forward+backward (online) and no-grad forward
    (target); same-size views in one batch."""

    def groups(views):
        out: Dict[tuple, list] = {}
        for v in views:
            out.setdefault(tuple(v.shape[1:]), []).append(v)
        return [torch.cat(g) for g in out.values()]

    total = 0.
    for x in groups(online):
        feats = backbone(x)
        feats = feats if isinstance(feats, (tuple, list)) else (feats, )
        total = total + sum(f.float().mean() for f in feats)
    total.backward()
    with torch.no_grad():
        for x in groups(tgt):
            target(x)
    backbone.zero_grad(set_to_none=True)


def view_split(model, views: List[torch.Tensor], data_samples=None):
    """Online and target views of a batch."""
    if hasattr(model, 'online_views') and hasattr(model, 'target_views'):
        from mmalfm.structures import RegionBatch
        batch = RegionBatch.build(views, data_samples)
        return ([views[i] for i in model.online_views(batch)],
                [views[i] for i in model.target_views(batch)])
    has_target = getattr(model, 'target_net', None) is not None
    return views, (views if has_target else [])


def sampling_per_image(dataset, crops, num: int) -> Dict[str, float]:
    """Seconds per image of the whole pipeline and of ``MultiViewCrop``'s
    geometry + region sampling, in-process."""
    timer = SectionTimer(False)
    patcher = Patcher()
    for t in crops:
        patcher.set(t, '_sample', timer.wrap(t._sample, 'sampling'))
    try:
        n = min(num, len(dataset))
        start = time.perf_counter()
        for i in range(n):
            dataset[i]
        total = time.perf_counter() - start
    finally:
        patcher.restore()
    return dict(pipeline_s_per_image=total / max(n, 1),
                sampling_s_per_image=timer.totals['sampling'] / max(n, 1),
                images=n)


def benchmark_train(config: str, args: argparse.Namespace,
                    options: Optional[dict] = None) -> dict:
    """Build the runner pieces of ``config`` (``options`` merged) and time
    the real step."""
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = load_cfg(config, args, work_dir, options)
        runner, loader, optim_wrapper = build_runner(cfg)
        model = runner.model
        model.train()
        cuda = next(model.parameters()).is_cuda
        batch = loader.batch_size
        total_iters = args.warmup + args.iters * args.repeat
        hub = MessageHub.get_current_instance()
        hub.update_info('max_iters', max(total_iters, 1))
        timer = SectionTimer(cuda)
        patcher = Patcher()
        split = instrument_model(model, timer, patcher)
        if cuda:
            torch.cuda.reset_peak_memory_stats()

        batches = endless(loader)
        state = dict(it=0, first=None)

        def step() -> None:
            hub.update_info('iter', state['it'])
            state['it'] += 1
            with timer.section('data'):
                data = next(batches)
            with optim_wrapper.optim_context(model):
                with timer.section('preprocess'):
                    data = model.data_preprocessor(data, True)
                if state['first'] is None:
                    state['first'] = data
                with timer.section('model_unsplit'):
                    losses = model(**data, mode='loss')
                    loss, _ = model.parse_losses(losses)
            with timer.section('backward'):
                optim_wrapper.backward(loss)
            with timer.section('optimizer'):
                optim_wrapper.step()
                optim_wrapper.zero_grad()

        runs, floor_runs = [], []
        try:
            for _ in range(max(args.warmup, 1)):
                step()
            # the floor on a real batch of this config, timed right after
            # each timed loop of the step (same machine load for both)
            views = to_views(state['first']['inputs'])
            online, tgt = view_split(model, views,
                                     state['first']['data_samples'])
            backbone = copy.deepcopy(model.backbone)
            target = copy.deepcopy(model.backbone)
            backbone.train()  # mmdet's ResNet.train returns None
            target.train()
            for p in target.parameters():
                p.requires_grad_(False)
            with timer.disabled():
                for _ in range(args.warmup):
                    floor_step(backbone, target, online, tgt)
            for _ in range(args.repeat):
                timer.reset()
                start = timer._now()
                for _ in range(args.iters):
                    step()
                runs.append(_summarise(timer, start, args.iters, batch))
                with timer.disabled():
                    start = timer._now()
                    for _ in range(args.iters):
                        floor_step(backbone, target, online, tgt)
                    floor_runs.append((timer._now() - start) / args.iters)
        finally:
            patcher.restore()
        memory = peak_memory_mb(cuda)
        floor_s = median(floor_runs)

        crops = find_multi_view_crops(loader.dataset)
        sampling = sampling_per_image(loader.dataset, crops,
                                      max(args.iters, 4)) if crops else None

    step_s = median([r['step_s'] for r in runs])
    best = min(runs, key=lambda r: abs(r['step_s'] - step_s))
    sections = best['sections_s']
    geometry_model = sections.get('geometry', 0.)
    sampling_step = sampling['sampling_s_per_image'] * batch \
        if sampling else 0.
    result = dict(
        mode='train',
        config=config,
        model=type(model).__name__,
        split=split,
        device='cuda' if cuda else 'cpu',
        amp=bool(args.amp),
        batch=batch,
        num_workers=loader.num_workers,
        iters=args.iters,
        warmup=args.warmup,
        repeat=args.repeat,
        view_shapes=[list(v.shape[1:]) for v in views],
        online_views=len(online),
        target_views=len(tgt),
        step_s=step_s,
        images_per_s=batch / step_s,
        sections_s=sections,
        sections_frac={k: v / best['step_s'] for k, v in sections.items()},
        sampling=sampling,
        geometry_sampling_frac=(geometry_model + sampling_step) / step_s,
        peak_memory=memory,
        floor_s=floor_s,
        floor_images_per_s=batch / floor_s,
        ratio_to_floor=step_s / floor_s,
        runs=runs,
        floor_runs_s=floor_runs,
        torch=torch.__version__)
    return result


def _summarise(timer: SectionTimer, start: float, iters: int,
               batch: int) -> dict:
    wall = timer._now() - start
    sections = {k: timer.totals.get(k, 0.) / iters for k in SECTIONS}
    return dict(step_s=wall / iters, images_per_s=batch * iters / wall,
                sections_s=sections)


# --------------------------------------------------------------------------
# Data and selective search
# --------------------------------------------------------------------------
def benchmark_data(config: str, args: argparse.Namespace) -> dict:
    """Images/s of the train dataloader alone, without and with workers."""
    from mmengine.runner import Runner
    from mmalfm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = load_cfg(config, args, work_dir, args.cfg_options)
        workers = int(cfg.train_dataloader.get('num_workers', 0))
        out = dict(mode='data', config=config,
                   batch=cfg.train_dataloader.batch_size,
                   configured_workers=workers, torch=torch.__version__)
        for key, nw in (('workers0', 0), ('configured', workers)):
            if key == 'configured' and workers == 0:
                out[key] = out['workers0']
                continue
            dl_cfg = copy.deepcopy(cfg.train_dataloader)
            dl_cfg.num_workers = nw
            dl_cfg.persistent_workers = nw > 0 and dl_cfg.get(
                'persistent_workers', False)
            loader = Runner.build_dataloader(dl_cfg, seed=0)
            batches = endless(loader)
            for _ in range(args.warmup):
                next(batches)
            runs = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                for _ in range(args.iters):
                    next(batches)
                runs.append(args.iters * loader.batch_size /
                            (time.perf_counter() - start))
            ips = median(runs)
            out[key] = dict(num_workers=nw, images_per_s=ips,
                            images_per_s_per_worker=ips / max(nw, 1),
                            runs=runs)
            del batches, loader
    return out


def list_images(spec: str) -> List[str]:
    if osp.isdir(spec):
        exts = ('.jpg', '.jpeg', '.png', '.bmp')
        files = [osp.join(root, f) for root, _, names in os.walk(spec)
                 for f in names if f.lower().endswith(exts)]
    else:
        files = glob.glob(spec)
    files = sorted(files)
    if not files:
        raise FileNotFoundError(
            f'--images {spec!r}: no images found; make the demo data with '
            '`python tools/data/make_demo_data.py data/demo` or pass a '
            'folder/glob')
    return files


def benchmark_selective_search(args: argparse.Namespace) -> dict:
    """Images/s (one process = one core) of the vectorised selective
    search and of its pure-Python reference; Felzenszwalb's share."""
    import mmcv
    from mmalfm.datasets.proposals.selective_search import (
        _selective_search_reference, _segment, selective_search)
    files = list_images(args.images)[:args.iters]
    imgs = [mmcv.imread(f, channel_order='rgb') for f in files]
    for img in imgs[:min(args.warmup, len(imgs))]:
        selective_search(img)
    fns = dict(
        fast=selective_search,
        reference=_selective_search_reference,
        felzenszwalb=lambda im: _segment(im, 300, 0.9, 100))
    runs: Dict[str, list] = {k: [] for k in fns}
    same = True
    for _ in range(args.repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            outs = [fn(img) for img in imgs]
            runs[key].append(len(imgs) / (time.perf_counter() - start))
            if key == 'fast':
                fast_out = outs
            elif key == 'reference':
                same = same and all(
                    np.array_equal(a, b) for a, b in zip(fast_out, outs))
    ips = {k: median(v) for k, v in runs.items()}
    return dict(
        mode='selective-search',
        images=len(imgs),
        image_shapes=[list(i.shape[:2]) for i in imgs],
        fast_images_per_s=ips['fast'],
        reference_images_per_s=ips['reference'],
        speedup=ips['fast'] / ips['reference'],
        felzenszwalb_s_per_image=1 / ips['felzenszwalb'],
        felzenszwalb_frac_of_fast=ips['fast'] / ips['felzenszwalb'],
        # both paths call the same compiled Felzenszwalb: the speed-up of
        # everything else (features, neighbours, grouping)
        speedup_excluding_felzenszwalb=(
            (1 / ips['reference'] - 1 / ips['felzenszwalb']) /
            max(1 / ips['fast'] - 1 / ips['felzenszwalb'], 1e-9)),
        # the best any grouping code could do with this Felzenszwalb
        speedup_ceiling=(1 / ips['reference']) * ips['felzenszwalb'],
        outputs_identical=bool(same),
        runs=runs,
        threads=os.environ.get('OMP_NUM_THREADS'))


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
def print_train(res: dict) -> None:
    print(f"{res['model']} ({res['config']}), {res['device']}, batch "
          f"{res['batch']}, views {res['view_shapes']}, "
          f"{res['num_workers']} workers, median of {res['repeat']} x "
          f"{res['iters']} iterations")
    print(f"  step {res['step_s'] * 1e3:.1f} ms  {res['images_per_s']:.1f} "
          f"img/s  floor {res['floor_s'] * 1e3:.1f} ms  step/floor "
          f"{res['ratio_to_floor']:.2f}")
    for k in SECTIONS:
        v = res['sections_s'].get(k, 0.)
        if v:
            print(f"  {k:<15s}{v * 1e3:9.2f} ms  "
                  f"{100 * res['sections_frac'][k]:5.1f} %")
    if res['sampling']:
        s = res['sampling']
        print(f"  sampling (in workers) {s['sampling_s_per_image'] * 1e3:.2f}"
              f" ms/image; pipeline {s['pipeline_s_per_image'] * 1e3:.2f} "
              'ms/image')
    print(f"  geometry+sampling {100 * res['geometry_sampling_frac']:.2f} % "
          'of the step')
    mem = res['peak_memory']
    print(f"  peak memory ({mem['kind']}) {mem['mb']:.0f} MiB")


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    if args.mode == 'selective-search':
        res = benchmark_selective_search(args)
        print(f"selective search, {res['images']} images, one process: "
              f"{res['fast_images_per_s']:.2f} img/s vs reference "
              f"{res['reference_images_per_s']:.2f} img/s = "
              f"{res['speedup']:.2f}x (Felzenszwalb "
              f"{res['felzenszwalb_s_per_image'] * 1e3:.1f} ms/image, "
              f"{100 * res['felzenszwalb_frac_of_fast']:.0f} % of the fast "
              f"path; identical outputs: {res['outputs_identical']}); "
              'without Felzenszwalb '
              f"{res['speedup_excluding_felzenszwalb']:.1f}x, ceiling "
              f"{res['speedup_ceiling']:.2f}x")
    elif args.mode == 'data':
        res = benchmark_data(args.config, args)
        for key in ('workers0', 'configured'):
            r = res[key]
            print(f"data {key}: {r['num_workers']} workers "
                  f"{r['images_per_s']:.1f} img/s "
                  f"({r['images_per_s_per_worker']:.1f} per worker)")
    else:
        res = benchmark_train(args.config, args, args.cfg_options)
        print_train(res)
        if args.compare_byol:
            byol = benchmark_train(args.compare_byol, args,
                                   args.byol_cfg_options)
            print_train(byol)
            res['byol'] = byol
            res['ratio_to_byol'] = res['step_s'] / byol['step_s']
            res['region_overhead_vs_byol'] = res['ratio_to_byol']
            print(f"step / BYOL step: {res['ratio_to_byol']:.2f}")
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
