# Copyright (c) mmalfm contributors. All rights reserved.
"""Benchmark ProposalDataset on a binary proposal store vs a JSON file.

Usage::

    python tools/analysis/benchmark_proposals.py [--work-dir DIR]
        [--num-images 1281167] [--boxes 100] [--json-images 50000]
        [--workers 8] [--touch 20000] [--keep] [--json-out RESULT.json]

Makes a synthetic ImageNet-like image list (1000 classes, keys
``nXXXXXXXX/nXXXXXXXX_I.JPEG``) and a store with ``--boxes`` random integer
xywh boxes per image (``--num-images`` x ``--boxes`` x 16 bytes: 2 GB by
default), plus a JSON file of the first ``--json-images`` images (JSON at
ImageNet scale does not fit a 24 GB machine). Each measurement runs in a
fresh process:

* **start-up**: building ``ProposalDataset`` over an
  ``UnlabeledImageDataset`` list file (the wrapped list alone is timed
  too), with the process's peak RSS above its RSS after the imports;
* **workers**: ``--workers`` processes forked from it (as MMEngine's data
  loaders do), each reading ``--touch`` random items (``get_data_info``:
  the boxes of one image, cleaned), with the time per item and each
  worker's RSS growth (``VmRSS`` after - before; pages it shares with the
  parent count while they are mapped) and its private memory at the end
  (``Private_Clean + Private_Dirty``);
* **key index**: the memory of the dictionaries the JSON path joins with
  (:class:`mmalfm.datasets.proposal_dataset._Joiner`) over all keys.

The synthetic files are deleted at the end unless ``--keep``. The files are
in the page cache (just written): start-up from a cold disk adds the read
time of the key index (about 40 bytes x 3 per image). See
``docs/benchmarks.md``; ``tools/analysis/benchmark_proposals.py`` is the
command line of :func:`main`.
"""
import argparse
import json
import multiprocessing
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

import numpy as np

#: The folder holding the ``mmalfm`` package, on the children's
#: ``PYTHONPATH`` (each measurement runs this module in a fresh process).
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

IMAGENET_TRAIN = 1281167


def _key(cls: int, index: int) -> str:
    return f'n{cls:08d}/n{cls:08d}_{index}.JPEG'


def image_keys(num_images: int) -> List[str]:
    """``num_images`` keys over 1000 classes, in sorted order per class."""
    per_class = -(-num_images // 1000)
    keys = [_key(c, i) for c in range(1000) for i in range(per_class)]
    return keys[:num_images]


def make_data(work: str, num_images: int, boxes: int, json_images: int,
              seed: int = 0) -> dict:
    """The list files, the store and the JSON file; returns paths and
    times."""
    from mmalfm.datasets.proposals import (JSONProposalWriter,
                                           ProposalStoreWriter)
    os.makedirs(work, exist_ok=True)
    keys = image_keys(num_images)
    paths = dict(list=osp.join(work, 'train.txt'),
                 list_small=osp.join(work, 'train_small.txt'),
                 store=osp.join(work, 'props_store'),
                 json=osp.join(work, 'props_small.json'))
    with open(paths['list'], 'w') as f:
        f.write('\n'.join(keys) + '\n')
    with open(paths['list_small'], 'w') as f:
        f.write('\n'.join(keys[:json_images]) + '\n')
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    chunk = 10000
    json_writer = JSONProposalWriter(paths['json'])
    with ProposalStoreWriter(paths['store']) as writer:
        for lo in range(0, num_images, chunk):
            hi = min(lo + chunk, num_images)
            n = (hi - lo) * boxes
            xy = rng.integers(0, 300, (n, 2))
            wh = rng.integers(32, 200, (n, 2))
            flat = np.concatenate([xy, wh], axis=1)
            writer.add_batch(keys[lo:hi], flat, [boxes] * (hi - lo))
            for i in range(lo, min(hi, json_images)):
                json_writer.add(keys[i], flat[(i - lo) * boxes:(i - lo + 1) *
                                              boxes])
        writer.close(meta=dict(method='synthetic'), integer=True)
        json_writer.close(meta=dict(method='synthetic'))
    return dict(paths, write_s=time.perf_counter() - start)


# --------------------------------------------------------------------------
# Measurements (each in its own process)
# --------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def _private_kb() -> int:
    total = 0
    with open('/proc/self/smaps_rollup') as f:
        for line in f:
            if line.startswith(('Private_Clean:', 'Private_Dirty:')):
                total += int(line.split()[1])
    return total


def _reset_peak() -> int:
    """Reset the peak RSS (``VmHWM``) to the current RSS; return it (kB)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    return _status_kb('VmRSS')


def _mb(kb: float) -> float:
    return round(kb / 1024, 1)


def _worker(ds, count: int, seed: int, queue) -> None:
    before = _status_kb('VmRSS')
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(ds), count)
    boxes = 0
    start = time.perf_counter()
    for i in indices:
        boxes += len(ds.get_data_info(int(i))['proposals'])
    elapsed = time.perf_counter() - start
    queue.put(dict(rss_before_mb=_mb(before),
                   rss_after_mb=_mb(_status_kb('VmRSS')),
                   rss_growth_mb=_mb(_status_kb('VmRSS') - before),
                   private_mb=_mb(_private_kb()),
                   us_per_item=round(1e6 * elapsed / count, 1),
                   boxes=boxes))


def measure_dataset(list_file: str, proposals: str, workers: int,
                    touch: int) -> dict:
    """Start-up, peak RSS and forked workers' reads of one dataset."""
    from mmalfm.datasets import ProposalDataset
    from mmalfm.datasets.unlabeled import UnlabeledImageDataset
    base_kb = _reset_peak()
    start = time.perf_counter()
    inner = UnlabeledImageDataset(ann_file=list_file,
                                  data_prefix=dict(img_path='train'),
                                  serialize_data=False)
    inner_s = time.perf_counter() - start
    list_peak_kb = _status_kb('VmHWM')
    del inner
    base_kb = _reset_peak()
    start = time.perf_counter()
    ds = ProposalDataset(
        dataset=dict(type='UnlabeledImageDataset', ann_file=list_file,
                     data_prefix=dict(img_path='train')),
        proposal_file=proposals)
    startup_s = time.perf_counter() - start
    peak_kb = _status_kb('VmHWM')
    after_kb = _status_kb('VmRSS')
    # one process alone (the workers below share 2 cores 8 ways)
    probe = np.random.default_rng(0).integers(0, len(ds), touch)
    start = time.perf_counter()
    for i in probe:
        ds.get_data_info(int(i))
    alone_us = 1e6 * (time.perf_counter() - start) / touch
    ctx = multiprocessing.get_context('fork')
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(ds, touch, 1000 + w, queue))
             for w in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return dict(
        images=len(ds),
        list_only_s=round(inner_s, 2),
        list_only_peak_extra_mb=_mb(list_peak_kb - base_kb),
        startup_s=round(startup_s, 2),
        main_peak_extra_mb=_mb(peak_kb - base_kb),
        main_after_extra_mb=_mb(after_kb - base_kb),
        us_per_item_alone=round(alone_us, 1),
        workers=results)


def measure_joiner(list_file: str) -> dict:
    """Memory of the JSON path's key dictionaries over every key."""
    from mmalfm.datasets.proposal_dataset import _Joiner
    with open(list_file) as f:
        keys = [line.rstrip('\n') for line in f]
    before = _status_kb('VmRSS')
    start = time.perf_counter()
    joiner = _Joiner(keys)
    elapsed = time.perf_counter() - start
    grown = _status_kb('VmRSS') - before
    assert joiner.match(keys[0]) == keys[0]
    return dict(keys=len(keys), mb=_mb(grown), s=round(elapsed, 2))


def _child(args) -> None:
    if args.child == 'joiner':
        result = measure_joiner(args.list)
    else:
        result = measure_dataset(args.list, args.proposals, args.workers,
                                 args.touch)
    print('RESULT ' + json.dumps(result), flush=True)


def _run_child(*argv: str) -> dict:
    path = os.pathsep.join(
        p for p in (REPO, os.environ.get('PYTHONPATH', '')) if p)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=path)
    cmd = [sys.executable, '-m', 'mmalfm.apis.benchmark_proposals', *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[len('RESULT '):])
    raise RuntimeError(f'child {argv} failed ({proc.returncode}):\n'
                       f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')


def _summary(name: str, r: dict) -> str:
    w = r['workers']
    growth = max(x['rss_growth_mb'] for x in w)
    private = max(x['private_mb'] for x in w)
    per_item = np.median([x['us_per_item'] for x in w])
    return (f'| {name} | {r["images"]:,} | {r["startup_s"]:.1f} s '
            f'({r["list_only_s"]:.1f} s) | '
            f'{r["main_peak_extra_mb"]:,.0f} MB '
            f'({r["list_only_peak_extra_mb"]:,.0f} MB) | {growth:.1f} MB | '
            f'{private:.1f} MB | {r["us_per_item_alone"]:.0f} µs | '
            f'{per_item:.0f} µs |')


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=None,
                        help='where the synthetic data go (default: a new '
                        'folder in /tmp)')
    parser.add_argument('--num-images', type=int, default=IMAGENET_TRAIN)
    parser.add_argument('--boxes', type=int, default=100)
    parser.add_argument('--json-images', type=int, default=50000)
    parser.add_argument('--workers', type=int, default=8)
    parser.add_argument('--touch', type=int, default=20000,
                        help='random items each worker reads')
    parser.add_argument('--keep', action='store_true',
                        help='keep the synthetic data')
    parser.add_argument('--json-out', help='write the results here')
    parser.add_argument('--child', choices=('dataset', 'joiner'),
                        help=argparse.SUPPRESS)
    parser.add_argument('--list', help=argparse.SUPPRESS)
    parser.add_argument('--proposals', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0

    work = args.work_dir or tempfile.mkdtemp(prefix='bench_proposals_',
                                             dir='/tmp')
    try:
        print(f'making {args.num_images:,} images x {args.boxes} boxes in '
              f'{work} ...', flush=True)
        data = make_data(work, args.num_images, args.boxes,
                         args.json_images)
        size = sum(
            osp.getsize(osp.join(data['store'], f))
            for f in os.listdir(data['store']))
        print(f'store written in {data["write_s"]:.0f} s '
              f'({size / 2**30:.2f} GiB)', flush=True)
        common = ['--child', 'dataset', '--workers', str(args.workers),
                  '--touch', str(args.touch)]
        results = dict(
            store=_run_child(*common, '--list', data['list'],
                             '--proposals', data['store']),
            store_small=None,
            json_small=_run_child(*common, '--list', data['list_small'],
                                  '--proposals', data['json']),
            joiner=_run_child('--child', 'joiner', '--list', data['list']),
            store_bytes=size,
            json_small_bytes=osp.getsize(data['json']),
            args=vars(args))
        small_store = osp.join(work, 'props_small_store')
        from mmalfm.datasets.proposals import convert_proposals
        convert_proposals(data['json'], small_store)
        results['store_small'] = _run_child(
            *common, '--list', data['list_small'], '--proposals',
            small_store)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    scale = args.num_images / args.json_images
    print('\n| proposals | images | start-up (the image list alone) | '
          'main process peak RSS above imports (the image list alone) | '
          'worker RSS growth (max) | worker private memory (max) | '
          'per item, 1 process | per item, each of the workers (median) |')
    print('|---|---|---|---|---|---|---|---|')
    print(_summary('store', results['store']))
    print(_summary('store', results['store_small']))
    print(_summary('JSON', results['json_small']))
    j = results['json_small']
    print(f'\nJSON extrapolated linearly to {args.num_images:,} images '
          f'(x{scale:.1f}): start-up ~{j["startup_s"] * scale:.0f} s, main '
          f'peak ~{j["main_peak_extra_mb"] * scale / 1024:.1f} GB')
    k = results['joiner']
    print(f'JSON-path key dictionaries over {k["keys"]:,} keys: '
          f'{k["mb"]:.0f} MB, {k["s"]:.1f} s')
    if args.json_out:
        with open(args.json_out, 'w') as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == '__main__':  # a measurement's child (``_run_child``)
    sys.exit(main())
