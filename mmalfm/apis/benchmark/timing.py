# Copyright (c) mmalfm contributors. All rights reserved.
"""Exclusive per-section wall-clock timing of a training step, by wrapping
methods of the built model (nothing in the algorithms is edited); the
sections are listed in :mod:`mmalfm.apis.benchmark.cli`."""
import contextlib
import functools
import resource
import statistics
import sys
import time
from collections import defaultdict
from typing import Callable, Dict, List

import torch

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
                          ('update_target', 'ema')):
            if hasattr(model, name):
                patcher.set(model, name, timer.wrap(getattr(model, name),
                                                    sec))
        # the heads' RoI embeddings (pool -> RoI head -> MLPs)
        heads = list(getattr(model, 'heads', {}).values())
        for head in heads:
            embedding = getattr(head, 'embedding', None)
            for name in ('pool', 'forward'):
                if hasattr(embedding, name):
                    patcher.set(embedding, name, timer.wrap(
                        getattr(embedding, name), 'region_head'))
        # module-level helpers the algorithm modules (and the base) import
        from mmalfm.structures import ViewGeometry
        patcher.set(ViewGeometry, 'collate',
                    classmethod(timer.wrap(
                        ViewGeometry.collate.__func__, 'geometry')))
        seen = set()
        for cls in [c for obj in [model] + heads
                    for c in type(obj).__mro__]:
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



def peak_memory_mb(cuda: bool) -> Dict[str, float]:
    if cuda:
        return dict(kind='cuda_max_memory_allocated',
                    mb=torch.cuda.max_memory_allocated() / 2**20)
    # Linux: ru_maxrss in KiB; process-wide peak (includes the build)
    return dict(kind='rss_peak',
                mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def median(values: List[float]) -> float:
    return float(statistics.median(values))

