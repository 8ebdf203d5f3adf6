# Copyright (c) mmalfm contributors. All rights reserved.
"""Benchmarks of a config's training step (:mod:`.train_step`, timed by
section with :mod:`.timing`), of its data pipeline and of selective search
(:mod:`.data`); :func:`main` is the command line
(``tools/analysis/benchmark.py``, :mod:`.cli`). See ``docs/benchmarks.md``.
"""
from .cli import main, parse_args, print_train
from .data import benchmark_data, benchmark_selective_search, list_images
from .timing import (GEOMETRY_FUNCS, SECTIONS, Patcher, SectionTimer,
                     instrument_model, median, peak_memory_mb)
from .train_step import (benchmark_train, build_runner, endless,
                         find_multi_view_crops, floor_step, load_cfg,
                         sampling_per_image, to_views, view_split)

__all__ = [
    'GEOMETRY_FUNCS', 'SECTIONS', 'Patcher', 'SectionTimer',
    'benchmark_data', 'benchmark_selective_search', 'benchmark_train',
    'build_runner', 'endless', 'find_multi_view_crops', 'floor_step',
    'instrument_model', 'list_images', 'load_cfg', 'main', 'median',
    'parse_args', 'peak_memory_mb', 'print_train', 'sampling_per_image',
    'to_views', 'view_split'
]
