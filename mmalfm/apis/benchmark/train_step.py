# Copyright (c) mmalfm contributors. All rights reserved.
"""``--mode train``: the runner pieces of a config built as
``tools/train.py`` builds them, its real step timed by section, the sampler
timed in-process and the bare-backbone floor (see
:mod:`mmalfm.apis.benchmark.cli`)."""
import argparse
import copy
import tempfile
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from .timing import (SECTIONS, Patcher, SectionTimer, instrument_model,
                     median, peak_memory_mb)


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

