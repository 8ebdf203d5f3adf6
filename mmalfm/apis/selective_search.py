# Copyright (c) mmalfm contributors. All rights reserved.
"""Generate SoCo's offline selective-search proposals for an image set.

Usage::

    python tools/data/selective_search.py IMG_DIR_OR_COCO_JSON OUT.json \
        [--img-prefix DIR] [--nproc N] [--max-side 0|S] \
        [--method skimage|opencv-fast|reference] \
        [--filter ratio3size0308post|none|ratio<r>size<lo><hi>[post]] \
        [--shard-dir DIR] [--throughput] [--num-parts N --part I]

* A folder is scanned recursively (sorted, as ``UnlabeledImageDataset``
  does); with a COCO json its ``images`` are used (``file_name`` relative to
  ``--img-prefix``, which is then required). Keys in the output are image
  paths relative to the image prefix (the folder itself by default).
* Work is spread over ``--nproc`` processes (``multiprocessing.Pool.imap``,
  results in input order).
* **Resumable**: finished images are written in batches to shard files
  ``part-NNNNNN.jsonl`` in ``--shard-dir`` (default ``OUT.json.parts/``),
  each written atomically (Ctrl-C / SIGTERM flush the current batch and
  exit with 130). A restarted run skips the images already done
  ("skipped N done") and retries failed ones; the final ``OUT.json`` is
  assembled (atomically) from the shards at the end. A shard folder made with
  other parameters is refused.
  Without the shard folder, the images already in an existing ``OUT``
  made with the same parameters are reused: filling in a few missing
  images computes only those.
* Images whose proposals are all filtered out are kept with ``[]`` and
  listed under ``"empty"``; unreadable images are listed under ``"failed"``
  with the reason, and the run goes on.
* ``OUT`` ending in ``.json`` is a JSON file; any other path a binary
  proposal store (a folder, for ImageNet-scale data).
* **Many machines**: ``--num-parts N --part I`` computes the ``I``-th of
  ``N`` contiguous blocks of the image list into
  ``OUT-without-.json.partIIIII-of-NNNNN.json`` (its own shard folder, so
  each part resumes on its own); in a Slurm array job both default to the
  array (``tools/data/slurm_selective_search.sh``).
  ``tools/data/merge_proposals.py OUT`` checks the parts and writes ``OUT``,
  identical to a single run's.

``--method skimage`` is the faithful recipe
(:func:`mmalfm.datasets.proposals.selective_search`); ``reference`` is its
slow pure-Python twin (benchmarks only); ``opencv-fast`` is OpenCV's
``ximgproc`` "fast" selective search, an ablation that is *not* equivalent.
See ``docs/advanced_guides/proposals.md``.
"""
import argparse
import glob
import json
import multiprocessing
import os
import os.path as osp
import platform
import signal
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from mmalfm.datasets.proposals import (IMG_EXTENSIONS,
                                       PartError, atomic_open, filter_post,
                                       open_writer, parse_strategy,
                                       part_block, part_path, read_proposals,
                                       resolve_part, selective_search,
                                       sort_stages)
from mmalfm.datasets.proposals import \
    list_images as _list_images
from mmalfm.datasets.proposals.hints import tool_command
from mmalfm.datasets.proposals.selective_search import \
    _selective_search_reference

METHODS = ('skimage', 'opencv-fast', 'reference')
SHARD_GLOB = 'part-*.jsonl'
PARAMS_FILE = 'params.json'

OPENCV_CONTRIB_HINT = (
    '--method opencv-fast needs OpenCV\'s contrib module cv2.ximgproc, which '
    'this OpenCV ({version}) does not have. Install it with `pip install '
    'opencv-contrib-python-headless=={version}` (after `pip uninstall '
    'opencv-python opencv-python-headless`: the wheels share the `cv2` '
    'package). Note that OpenCV\'s fast selective search is NOT equivalent '
    'to SoCo\'s recipe (other segmentation parameters, colour spaces and '
    'strategies): use it only as an ablation, keep --method skimage for '
    'faithful proposals.')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Offline selective-search proposals (SoCo recipe). See '
        'docs/advanced_guides/proposals.md.')
    parser.add_argument('source', help='image folder or COCO-format json')
    parser.add_argument('out', help='output proposal file (.json)')
    parser.add_argument(
        '--img-prefix',
        help='folder the image keys are relative to (default: the image '
        'folder; required with a COCO json)')
    parser.add_argument(
        '--nproc', type=int, default=os.cpu_count() or 1,
        help='worker processes (default: all CPUs)')
    parser.add_argument(
        '--max-side', type=int, default=0,
        help='0: original resolution (faithful); S > 0: downscale images '
        'whose longer side exceeds S before the search and map the boxes '
        'back (faster, not faithful). Default: 0')
    parser.add_argument(
        '--method', choices=METHODS, default='skimage',
        help='skimage (default): the faithful recipe, vectorised; '
        'opencv-fast: OpenCV contrib ablation, not equivalent; reference: '
        'the slow pure-Python twin of skimage (benchmarks)')
    parser.add_argument(
        '--filter', default='ratio3size0308post',
        help='"ratio3size0308post" (SoCo, default), "none" (keep all '
        'regions) or another "ratio<r>size<lo><hi>[post]"')
    parser.add_argument(
        '--shard-dir', help='resumable per-image results (default: '
        'OUT.json.parts)')
    parser.add_argument(
        '--throughput', action='store_true',
        help='print images/s per process and overall')
    parser.add_argument('--scale', type=float, default=300.0,
                        help='Felzenszwalb scale k (default: 300)')
    parser.add_argument('--sigma', type=float, default=0.9,
                        help='Felzenszwalb sigma (default: 0.9)')
    parser.add_argument('--min-size', type=int, default=100,
                        help='Felzenszwalb min_size (default: 100)')
    parser.add_argument(
        '--colour-hist', choices=('soco', 'hsv'), default='soco',
        help='"soco" (default): released colour binning; "hsv": paper '
        'binning')
    parser.add_argument(
        '--neighbours', choices=('adjacency', 'bbox'), default='bbox',
        help='region neighbourhood: touching regions (default), or the '
        'released box-corner heuristic')
    parser.add_argument(
        '--flush-every', type=int, default=200,
        help='write a shard after this many finished images (default: 200)')
    parser.add_argument(
        '--flush-seconds', type=float, default=60.0,
        help='... or after this many seconds (default: 60)')
    parser.add_argument(
        '--chunksize', type=int, default=0,
        help='images per task sent to a worker (0: automatic)')
    parser.add_argument(
        '--num-parts', type=int,
        help='split the image list into N contiguous parts (machines) and '
        'compute one of them (--part); default: SLURM_ARRAY_TASK_COUNT in a '
        'Slurm array job, else no split. Merge with '
        'tools/data/merge_proposals.py OUT')
    parser.add_argument(
        '--part', type=int,
        help='the part to compute, 0 <= I < N; default: from the Slurm '
        'array (SLURM_ARRAY_TASK_ID, minus SLURM_ARRAY_TASK_MIN when '
        '--num-parts is not given)')
    args = parser.parse_args(argv)
    try:
        args.partition = resolve_part(args.num_parts, args.part)
    except PartError as e:
        parser.error(str(e))
    if args.nproc < 1:
        parser.error('--nproc must be >= 1')
    if args.max_side < 0:
        parser.error('--max-side must be 0 or positive')
    try:
        parse_strategy(args.filter)
    except ValueError as e:
        parser.error(str(e))
    if args.source.endswith('.json') and not args.img_prefix:
        parser.error('--img-prefix is required with a COCO json: the folder '
                     'its "file_name"s are relative to')
    if args.method == 'opencv-fast' and not has_opencv_contrib():
        parser.error(OPENCV_CONTRIB_HINT.format(version=cv2.__version__))
    return args


def has_opencv_contrib() -> bool:
    """Whether ``cv2.ximgproc.segmentation`` selective search exists."""
    seg = getattr(getattr(cv2, 'ximgproc', None), 'segmentation', None)
    return hasattr(seg, 'createSelectiveSearchSegmentation')


# --------------------------------------------------------------------------
# Image list
# --------------------------------------------------------------------------
def list_images(source: str,
                img_prefix: Optional[str] = None) -> Tuple[str, List[str]]:
    """:func:`mmalfm.datasets.proposals.list_images`, exiting with the
    error message instead of raising."""
    try:
        return _list_images(source, img_prefix)
    except ValueError as e:
        raise SystemExit(f'error: {e}') from e


# --------------------------------------------------------------------------
# Worker
# --------------------------------------------------------------------------
_CFG: dict = {}
_LOADER = None


def _make_loader():
    """The training pipeline's loader (same pixels, EXIF ignored), or None
    when it cannot be imported (then :func:`_load_rgb` decodes itself)."""
    try:
        from mmalfm.datasets.transforms.loading import LoadImageWithCheck
    except Exception:  # noqa: BLE001 -- optional, see _load_rgb
        return None
    return LoadImageWithCheck(to_rgb=True, skip_corrupt=False)


def _init_worker(cfg: dict) -> None:
    global _CFG, _LOADER
    _CFG = cfg
    _LOADER = _make_loader() if cfg.get('use_loader', True) else None
    cv2.setNumThreads(1)


def _load_rgb(path: str) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB, decoded as the training loader does."""
    if _LOADER is not None:
        return _LOADER.transform(dict(img_path=path))['img']
    data = np.fromfile(path, dtype=np.uint8)
    img = None
    if data.size:
        img = cv2.imdecode(data,
                           cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ValueError('OpenCV cannot decode it (empty, not an image or '
                         'corrupt)')
    return np.ascontiguousarray(img[..., ::-1])


def _opencv_fast(img_rgb: np.ndarray) -> np.ndarray:
    seg = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    seg.setBaseImage(np.ascontiguousarray(img_rgb[..., ::-1]))
    seg.switchToSelectiveSearchFast()
    rects = np.asarray(seg.process(), dtype=np.int64).reshape(-1, 4)
    # OpenCV's rects count pixels (w = max_x - min_x + 1): to our convention
    rects[:, 2:] -= 1
    return rects


def _search(img_rgb: np.ndarray, cfg: dict) -> np.ndarray:
    if cfg['implementation'] == 'opencv-fast':
        return _opencv_fast(img_rgb)
    fn = (selective_search if cfg['implementation'] == 'skimage' else
          _selective_search_reference)
    return fn(
        img_rgb,
        scale=cfg['scale'],
        sigma=cfg['sigma'],
        min_size=cfg['min_size'],
        colour_hist=cfg['colour_hist'],
        neighbours=cfg['neighbours'])


def propose(img_rgb: np.ndarray, cfg: dict) -> np.ndarray:
    """Raw xywh proposals in original pixels, downscaling for the search
    when ``cfg['max_side']`` asks for it."""
    height, width = img_rgb.shape[:2]
    side = cfg['max_side']
    if not side or max(height, width) <= side:
        return _search(img_rgb, cfg)
    factor = side / max(height, width)
    w_s = max(1, int(round(width * factor)))
    h_s = max(1, int(round(height * factor)))
    small = cv2.resize(img_rgb, (w_s, h_s), interpolation=cv2.INTER_AREA)
    boxes = _search(small, cfg)
    sx, sy = width / w_s, height / h_s
    # inclusive pixel indices: left edge x, right edge max_x + 1
    x0 = np.rint(boxes[:, 0] * sx)
    y0 = np.rint(boxes[:, 1] * sy)
    x1 = np.rint((boxes[:, 0] + boxes[:, 2] + 1) * sx) - 1
    y1 = np.rint((boxes[:, 1] + boxes[:, 3] + 1) * sy) - 1
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.int64)


def process_image(task: Tuple[str, str]) -> dict:
    """Proposals of one image as a shard record.

    An image that cannot be read gives a ``'failed'`` record (reported, not
    fatal); an error in the search itself is a bug and is raised, naming the
    image (the shards keep the finished images).
    """
    rel, path = task
    start = time.perf_counter()
    try:
        img = _load_rgb(path)
    except Exception as e:  # noqa: BLE001 -- reported, not fatal
        return dict(
            path=rel,
            status='failed',
            error=f'{type(e).__name__}: {e}',
            time=time.perf_counter() - start)
    height, width = img.shape[:2]
    try:
        boxes = propose(img, _CFG)
        kept, stage = filter_post(
            boxes, width, height, _CFG['filter'], return_stage=True)
    except Exception as e:
        raise RuntimeError(f'proposal generation failed on {path!r} '
                           f'({width}x{height}): {type(e).__name__}: {e}'
                           ) from e
    return dict(
        path=rel,
        status='ok' if len(kept) else 'empty',
        boxes=np.asarray(kept, dtype=np.int64).tolist(),
        size=[width, height],
        num_raw=int(len(boxes)),
        stage=stage,
        time=time.perf_counter() - start)


# --------------------------------------------------------------------------
# Shards
# --------------------------------------------------------------------------
class ShardStore:
    """Finished records in ``part-NNNNNN.jsonl`` files, written atomically.

    Args:
        folder (str): Shard folder.
        params (dict): Parameters the shards depend on; a folder made with
            others is refused.
    """

    def __init__(self, folder: str, params: dict) -> None:
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        params_path = osp.join(folder, PARAMS_FILE)
        if osp.exists(params_path):
            with open(params_path) as f:
                old = json.load(f)
            if old != params:
                diff = sorted(k for k in set(old) | set(params)
                              if old.get(k) != params.get(k))
                raise SystemExit(
                    f'error: shard folder {folder!r} was made with other '
                    f'parameters ({", ".join(diff)}: '
                    f'{ {k: old.get(k) for k in diff} } vs '
                    f'{ {k: params.get(k) for k in diff} }). Delete it or '
                    'pass another --shard-dir.')
        else:
            with atomic_open(params_path) as f:
                json.dump(params, f, indent=1)
        self.records: Dict[str, dict] = {}
        self.next_index = 0
        self.bad_lines = 0
        for name in sorted(glob.glob(osp.join(folder, SHARD_GLOB))):
            index = osp.basename(name)[len('part-'):-len('.jsonl')]
            if index.isdigit():
                self.next_index = max(self.next_index, int(index) + 1)
            with open(name) as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        self.records[rec['path']] = rec
                    except (ValueError, KeyError, TypeError):
                        self.bad_lines += 1
        self.pending: List[dict] = []
        self.last_flush = time.monotonic()

    def add(self, rec: dict) -> None:
        self.records[rec['path']] = rec
        self.pending.append(rec)

    def flush(self) -> None:
        """Write the pending records to a new shard (atomically)."""
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        path = osp.join(self.folder, f'part-{self.next_index:06d}.jsonl')
        with atomic_open(path) as f:
            for rec in self.pending:
                f.write(json.dumps(rec, separators=(',', ':')) + '\n')
        self.next_index += 1
        self.pending = []


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------
def _versions() -> dict:
    import scipy
    import skimage
    return dict(
        python=platform.python_version(),
        numpy=np.__version__,
        scipy=scipy.__version__,
        skimage=skimage.__version__,
        opencv=cv2.__version__)


def native_threads() -> int:
    """Threads of this process, native ones included (Linux: every task
    of ``/proc/self/task``; elsewhere Python's own threads)."""
    try:
        return len(os.listdir('/proc/self/task'))
    except OSError:
        return threading.active_count()


def pool_context():
    """The multiprocessing context of the worker pool.

    ``fork`` (no re-import: workers start at once) from a single-threaded
    process. Fork copies only the calling thread, so from a process with
    other threads (OpenMP's, a test runner's IO thread, a logger's) a lock
    one of them held at fork time stays locked in the children forever and
    can hang a worker; there the pool uses ``forkserver``, whose server is a
    fresh single-threaded interpreter that imports this module once and
    forks the workers.
    """
    if sys.platform != 'linux':
        return multiprocessing.get_context()
    if native_threads() == 1:
        return multiprocessing.get_context('fork')
    ctx = multiprocessing.get_context('forkserver')
    ctx.set_forkserver_preload([__name__])
    return ctx


def _progress(total: int):
    try:
        from mmengine.utils import ProgressBar
    except ImportError:  # pragma: no cover
        return None
    return ProgressBar(total)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f'signal {signum}')


def _params(args: argparse.Namespace) -> dict:
    """The parameters the proposals depend on (``meta.params``)."""
    if args.method == 'opencv-fast':
        return dict(
            implementation=args.method,
            opencv_mode='fast',
            max_side=args.max_side)
    return dict(
        implementation=args.method,
        scale=args.scale,
        sigma=args.sigma,
        min_size=args.min_size,
        colour_hist=args.colour_hist,
        neighbours=args.neighbours,
        max_side=args.max_side)


def _target(args: argparse.Namespace, rels: List[str],
            params: dict) -> Tuple[str, str, List[str], Optional[dict]]:
    """The file this run writes, its shard folder, its images and, for a
    part, its ``meta.part`` block."""
    if args.partition is None:
        return (args.out, args.shard_dir or args.out + '.parts', rels,
                None)
    num_parts, index = args.partition
    redo = tool_command(args.source, args.out, args.img_prefix,
                        dict(params=params, filter=args.filter))
    keys, block = part_block(rels, num_parts, index,
                             f'{redo} --num-parts {num_parts} --part {{part}}')
    out = part_path(args.out, index, num_parts)
    shard_dir = (osp.join(args.shard_dir,
                          osp.basename(out)[:-len('.json')])
                 if args.shard_dir else out + '.parts')
    print(f'part {index} of {num_parts}: images [{block["start"]}, '
          f'{block["end"]}) of {len(rels)} -> {out}', flush=True)
    return out, shard_dir, keys, block


def seed_from_output(out: str, rels: List[str], params: dict,
                     filter_: str) -> Tuple[Dict[str, dict], Optional[dict],
                                            set]:
    """Finished images of an existing output made with the same
    parameters (when its shard folder is gone).

    Args:
        out (str): The file (or store) this run writes.
        rels (list[str]): This run's images.
        params (dict): This run's ``meta.params``.
        filter_ (str): This run's ``--filter``.

    Returns:
        tuple: ``{rel: record}`` of the images with boxes or empty, the
        file's ``filter_stages`` and the set of its processed images; or
        ``({}, None, set())`` when the file cannot be reused (the reason is
        printed).
    """
    if not osp.exists(out):
        return {}, None, set()

    def refuse(why: str):
        print(f'not reusing the images of {out}: {why}', flush=True)
        return {}, None, set()

    try:
        record = read_proposals(out)
    except (ValueError, OSError) as e:
        return refuse(f'unreadable ({e})')
    meta = record['meta']
    if (meta.get('method') != 'selective_search'
            or meta.get('params') != params
            or meta.get('filter') != filter_):
        return refuse('it was made with other parameters')
    if not record['integer'] or not isinstance(meta.get('filter_stages'),
                                               dict):
        return refuse('it was not written by this tool')
    wanted = set(rels)
    extra = [k for k in record['images'] if k not in wanted]
    if extra:
        return refuse(f'it holds {len(extra)} images that are not in the '
                      f'list, e.g. {extra[0]!r}')
    seeded = {}
    for rel, boxes in record['images'].items():
        seeded[rel] = dict(
            path=rel,
            status='ok' if len(boxes) else 'empty',
            boxes=boxes.astype(np.int64).tolist(),
            stage=None)
    return seeded, dict(meta['filter_stages']), set(seeded)


def run(args: argparse.Namespace) -> dict:
    """Process the images, resuming from the shards (and reusing an
    existing output); write the output file, store or part file.

    Returns:
        dict: Summary counts (``total``, ``skipped``, ``processed``,
        ``with_proposals``, ``empty``, ``failed``, ``reused``).
    """
    if not hasattr(args, 'partition'):
        args.partition = resolve_part(args.num_parts, args.part)
    prefix, all_rels = list_images(args.source, args.img_prefix)
    if not all_rels:
        raise SystemExit(f'error: no images found in {args.source!r} '
                         f'(extensions: {", ".join(IMG_EXTENSIONS)})')
    params = _params(args)
    out, shard_dir, rels, block = _target(args, all_rels, params)
    args.effective_shard_dir = shard_dir
    store = ShardStore(
        shard_dir,
        dict(params, filter=args.filter, img_prefix=osp.abspath(prefix)))
    if store.bad_lines:
        print(f'warning: ignored {store.bad_lines} unreadable shard lines in '
              f'{shard_dir}', file=sys.stderr)
    seeded, seeded_stages, from_output = seed_from_output(
        out, rels, params, args.filter)

    def record_of(rel: str) -> dict:
        """The shard's record; the reused output's if it has none or only
        a failure."""
        rec = store.records.get(rel)
        if rel in seeded and (rec is None or rec.get('status') == 'failed'):
            return seeded[rel]
        return rec or {}

    reused = [r for r in seeded if record_of(r) is seeded[r]]

    done = {r for r in rels if record_of(r).get('status') in ('ok', 'empty')}
    todo = [r for r in rels if r not in done]
    note = f'; {len(reused)} reused from {out}' if reused else ''
    print(f'{len(rels)} images: skipped {len(done)} done, {len(todo)} to '
          f'process (shards in {shard_dir}{note})', flush=True)

    cfg = dict(params, filter=args.filter)
    processed = []
    start = time.perf_counter()
    if todo:
        tasks = [(r, osp.join(prefix, r)) for r in todo]
        nproc = min(args.nproc, len(tasks))
        chunksize = args.chunksize or max(
            1, min(16, len(tasks) // (nproc * 8)))
        bar = _progress(len(tasks))
        pool = None
        old_handler = None
        try:
            if nproc == 1:
                _init_worker(cfg)
                results = map(process_image, tasks)
            else:
                pool = pool_context().Pool(
                    nproc, initializer=_init_worker, initargs=(cfg, ))
                results = pool.imap(process_image, tasks, chunksize)
            if threading.current_thread() is threading.main_thread():
                # SIGTERM (kill, cluster preemption) -> flush, like Ctrl-C;
                # installed after the fork so the workers keep the default
                old_handler = signal.signal(signal.SIGTERM, _interrupt)
            for rec in results:
                store.add(rec)
                processed.append(rec)
                if bar is not None:
                    bar.update()
                if (len(store.pending) >= args.flush_every
                        or time.monotonic() - store.last_flush >=
                        args.flush_seconds):
                    store.flush()
        finally:
            store.flush()
            if old_handler is not None:
                signal.signal(signal.SIGTERM, old_handler)
            if pool is not None:
                pool.terminate()
                pool.join()
        if bar is not None:
            sys.stdout.write('\n')
    wall = time.perf_counter() - start

    images, empty, failed = {}, [], {}
    # the stages of the reused output's images are its counts (the same
    # parameters give the same results); the others count their own
    stages = dict(seeded_stages or {})
    for rel in rels:
        rec = record_of(rel)
        if rec['status'] == 'failed':
            failed[rel] = rec['error']
            continue
        images[rel] = rec['boxes']
        if not rec['boxes']:
            empty.append(rel)
        if rel not in from_output:
            stages[rec['stage']] = stages.get(rec['stage'], 0) + 1
    stages = sort_stages(stages)
    meta = dict(
        method='selective_search',
        params=params,
        filter=args.filter,
        num_images=len(rels),
        num_with_proposals=len(images) - len(empty),
        num_empty=len(empty),
        num_failed=len(failed),
        filter_stages=stages,
        loader=('LoadImageWithCheck' if _make_loader() is not None else
                'cv2.imdecode'),
        versions=_versions())
    if block is not None:
        meta['part'] = block
    with open_writer(out, 'xywh') as writer:
        for rel, boxes in images.items():
            writer.add(rel, np.asarray(boxes, np.int64).reshape(-1, 4))
        writer.close(empty, failed, meta)

    summary = dict(
        total=len(rels),
        skipped=len(done),
        processed=len(processed),
        with_proposals=len(images) - len(empty),
        empty=len(empty),
        failed=len(failed),
        reused=len(reused))
    print(f'wrote {out}: {summary["with_proposals"]} images with '
          f'proposals, {len(empty)} with zero proposals (kept under '
          f'"empty"; the dataset falls back to the whole image), '
          f'{len(failed)} failed (under "failed"); filter stages {stages}')
    if block is not None:
        print(f'part {block["index"]} of {block["num_parts"]} done; when '
              'every part is, merge them: python '
              f'tools/data/merge_proposals.py {args.out}')
    for rel, err in list(failed.items())[:20]:
        print(f'  failed: {rel}: {err}', file=sys.stderr)
    if len(failed) > 20:
        print(f'  ... and {len(failed) - 20} more (see "failed" in '
              f'{out})', file=sys.stderr)
    if args.throughput:
        ok = [r for r in processed if r['status'] != 'failed']
        busy = sum(r['time'] for r in ok)
        if ok and busy > 0:
            n_workers = min(args.nproc, len(todo))
            print(f'throughput: {len(ok) / busy:.3f} images/s per process '
                  f'({1000 * busy / len(ok):.1f} ms/image: decode + '
                  f'proposals + filter, {len(ok)} images, method '
                  f'{args.method}); {len(processed) / wall:.3f} images/s '
                  f'overall with {n_workers} processes')
        else:
            print('throughput: nothing was processed in this run')
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except KeyboardInterrupt as e:
        shards = getattr(args, 'effective_shard_dir', None) or (
            args.shard_dir or args.out + '.parts')
        print(f'\ninterrupted ({e or "Ctrl-C"}): finished images are saved in '
              f'{shards}; run the same command again to resume.',
              file=sys.stderr)
        return 130
    return 0

