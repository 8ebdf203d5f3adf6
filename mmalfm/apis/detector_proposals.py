# Copyright (c) mmalfm contributors. All rights reserved.
"""Region proposals from any MMDetection detector, in the proposal format.

Usage::

    python tools/data/detector_proposals.py CONFIG CHECKPOINT \
        IMG_DIR_OR_COCO_JSON OUT [--img-prefix DIR] [--score-thr 0.05] \
        [--max-per-img 100] [--device auto|cpu|cuda:0] \
        [--num-parts N --part I] [--cfg-options KEY=VALUE ...]

    # distributed: one part per rank, merged by rank 0 at the end
    torchrun --nproc_per_node 8 tools/data/detector_proposals.py \
        CONFIG CHECKPOINT SRC OUT --launcher pytorch

* The image list is the selective-search tool's (a folder walked in sorted
  order, or a COCO json's ``images`` with ``--img-prefix``); images are
  decoded like the training loader (``LoadImageWithCheck``, EXIF ignored)
  and fed to the detector's test pipeline, so the boxes are in source
  pixels: ``(x1, y1, x2, y2)`` float32, stored with ``"box_format":
  "xyxy"``. Per image the detections with score >= ``--score-thr`` are kept
  (class-agnostic, highest score first, at most ``--max-per-img``); both
  values are also set in the detector's ``test_cfg``. An image without a
  detection is listed under ``empty``, an unreadable one under ``failed``.
* ``OUT`` ending in ``.json`` is a JSON file, any other path a binary
  proposal store. ``meta`` records ``method: detector``, the config, the
  checkpoint, the score threshold, the box limit and library versions.
* ``--launcher pytorch`` (torchrun) or ``slurm`` (srun): rank ``r`` of
  ``W`` computes part ``r`` of ``W`` into its part file
  (``OUT-without-.json.partRRRRR-of-WWWWW.json``, via ``mmengine.dist``;
  gloo on CPU), rank 0 merges them (``mmalfm.datasets.proposals
  .merge_parts``) and removes the part files. A rank whose part file is
  already there (same detector and parameters) reuses it, so re-running an
  interrupted job redoes only the missing parts. Without a launcher,
  ``--num-parts/--part`` (or a Slurm array) compute one part, merged later
  with ``tools/data/merge_proposals.py OUT``.

A meaningful detector needs trained weights; a randomly initialised one
gives random boxes (useful to test the plumbing only). See
``docs/advanced_guides/proposals.md``.
"""
import argparse
import os
import os.path as osp
import platform
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from mmalfm.datasets.proposals import (PartError, list_images,
                                       merge_parts, open_writer, part_block,
                                       part_path, read_proposal_file,
                                       resolve_part)
from mmalfm.datasets.proposals.hints import tool_command


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Detector boxes as region proposals (JSON file or '
        'proposal store). See docs/advanced_guides/proposals.md.')
    parser.add_argument('config', help='MMDetection config of the detector')
    parser.add_argument('checkpoint', help='its weights')
    parser.add_argument('source', help='image folder or COCO-format json')
    parser.add_argument('out', help='output: .json file, or a store folder')
    parser.add_argument(
        '--img-prefix',
        help='folder the image keys are relative to (default: the image '
        'folder; required with a COCO json)')
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='smallest detection score kept (default: '
                        '0.05)')
    parser.add_argument('--max-per-img', type=int, default=100,
                        help='most boxes kept per image (default: 100)')
    parser.add_argument(
        '--device', default='auto',
        help='auto (default: cuda:LOCAL_RANK when CUDA is available, else '
        'cpu), cpu, cuda:0, ...')
    parser.add_argument('--launcher', choices=('none', 'pytorch', 'slurm'),
                        default='none', help='distributed launcher')
    parser.add_argument('--num-parts', type=int,
                        help='without a launcher: compute one of N parts '
                        '(see tools/data/selective_search.py)')
    parser.add_argument('--part', type=int, help='the part, 0 <= I < N')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='override config keys (as tools/test.py)')
    args = parser.parse_args(argv)
    if args.source.endswith('.json') and not args.img_prefix:
        parser.error('--img-prefix is required with a COCO json: the folder '
                     'its "file_name"s are relative to')
    if args.max_per_img < 1:
        parser.error('--max-per-img must be >= 1')
    if args.launcher != 'none' and (args.num_parts is not None
                                    or args.part is not None):
        parser.error('with --launcher the parts are the ranks: leave out '
                     '--num-parts/--part')
    return args


# --------------------------------------------------------------------------
# The detector
# --------------------------------------------------------------------------
def _set_test_cfg(cfg, score_thr: float, max_per_img: int) -> None:
    """Put the threshold and the box limit into the detector's final test
    stage (``test_cfg.rcnn`` of two-stage detectors, else ``test_cfg``)."""
    test_cfg = cfg.model.get('test_cfg')
    if not test_cfg:
        return
    stage = test_cfg.get('rcnn') or test_cfg
    if 'score_thr' in stage:
        stage['score_thr'] = score_thr
    if 'max_per_img' in stage:
        stage['max_per_img'] = max_per_img


def build_detector(args: argparse.Namespace, device: str):
    """The detector of ``args.config`` with ``args.checkpoint`` loaded, in
    eval mode on ``device``."""
    from mmdet.apis import init_detector
    from mmengine.config import Config, DictAction

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        options = argparse.Namespace()
        DictAction(option_strings=[], dest='o')(None, options,
                                                args.cfg_options)
        cfg.merge_from_dict(options.o)
    _set_test_cfg(cfg, args.score_thr, args.max_per_img)
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None
    return init_detector(cfg, args.checkpoint, device=device,
                         palette='random')


def detect(model, img_bgr: np.ndarray, score_thr: float,
           max_per_img: int) -> np.ndarray:
    """One image's proposals.

    Args:
        model: The detector (:func:`build_detector`).
        img_bgr (np.ndarray): ``[H, W, 3]`` uint8 BGR image.
        score_thr (float): Smallest score kept.
        max_per_img (int): Most boxes kept.

    Returns:
        np.ndarray: ``[n, 4]`` float32 ``(x1, y1, x2, y2)`` in the image's
        pixels, highest score first.
    """
    from mmdet.apis import inference_detector
    pred = inference_detector(model, img_bgr).pred_instances
    scores = pred.scores.detach().cpu().numpy()
    boxes = pred.bboxes.detach().cpu().numpy().astype(np.float32)
    keep = np.flatnonzero(scores >= score_thr)
    order = keep[np.argsort(-scores[keep], kind='stable')][:max_per_img]
    return np.ascontiguousarray(boxes[order].reshape(-1, 4))


def _loader():
    from mmalfm.datasets.transforms.loading import LoadImageWithCheck
    return LoadImageWithCheck(to_rgb=False, skip_corrupt=False)


def propose_images(model, prefix: str, rels: List[str],
                   args: argparse.Namespace,
                   log) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Boxes of every image of ``rels`` (unreadable ones under failed)."""
    loader = _loader()
    images: Dict[str, np.ndarray] = {}
    failed: Dict[str, str] = {}
    start = time.perf_counter()
    for i, rel in enumerate(rels, 1):
        try:
            img = loader.transform(dict(img_path=osp.join(prefix, rel)))['img']
        except Exception as e:  # noqa: BLE001 -- reported, not fatal
            failed[rel] = f'{type(e).__name__}: {e}'
            continue
        images[rel] = detect(model, img, args.score_thr, args.max_per_img)
        if i % 500 == 0 or i == len(rels):
            log(f'{i}/{len(rels)} images, '
                f'{i / (time.perf_counter() - start):.1f} images/s')
    return images, failed


def _versions() -> dict:
    import mmcv
    import mmdet
    import mmengine
    import torch
    return dict(python=platform.python_version(), numpy=np.__version__,
                torch=torch.__version__, mmcv=mmcv.__version__,
                mmdet=mmdet.__version__, mmengine=mmengine.__version__)


def base_meta(args: argparse.Namespace) -> dict:
    """What the boxes depend on (compared when a part file is reused)."""
    return dict(method='detector', config=args.config,
                checkpoint=args.checkpoint, score_thr=args.score_thr,
                max_per_img=args.max_per_img)


def write_output(path: str, rels: List[str], images: Dict[str, np.ndarray],
                 failed: Dict[str, str], meta: dict) -> dict:
    """Write images (in list order), empty and failed lists and meta."""
    empty = [r for r in rels if r in images and not len(images[r])]
    meta = dict(meta, num_images=len(rels),
                num_with_proposals=len(images) - len(empty),
                num_empty=len(empty), num_failed=len(failed),
                versions=_versions())
    meta['part'] = meta.pop('part', None)
    if meta['part'] is None:
        del meta['part']
    with open_writer(path, 'xyxy') as writer:
        for rel in rels:
            if rel in images:
                writer.add(rel, images[rel])
        writer.close(empty, {r: failed[r] for r in rels if r in failed},
                     meta)
    return meta


def _reusable(path: str, meta: dict) -> bool:
    """A finished part file of the same detector, parameters and part."""
    if not osp.isfile(path):
        return False
    try:
        old = read_proposal_file(path)['meta']
    except ValueError:
        return False
    return all(old.get(k) == v for k, v in meta.items())


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------
def _init_distributed(launcher: str) -> None:
    import torch
    from mmengine.dist import init_dist
    if torch.cuda.is_available():
        init_dist(launcher, backend='nccl')
    elif launcher == 'pytorch':
        from mmalfm.utils import init_cpu_distributed
        init_cpu_distributed()
    else:
        raise SystemExit(f'error: --launcher {launcher} without CUDA: use '
                         'torchrun (--launcher pytorch), which runs on CPU '
                         'with gloo')


def _device(arg: str) -> str:
    import torch
    if arg != 'auto':
        return arg
    if torch.cuda.is_available():
        return f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    return 'cpu'


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.dist import barrier, get_rank, get_world_size
    if args.launcher != 'none':
        _init_distributed(args.launcher)
    rank, world = get_rank(), get_world_size()

    def log(msg: str) -> None:
        print(f'[rank {rank}/{world}] {msg}' if world > 1 else msg,
              flush=True)

    try:
        prefix, all_rels = list_images(args.source, args.img_prefix)
        partition = (world, rank) if world > 1 else resolve_part(
            args.num_parts, args.part)
    except (ValueError, PartError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if not all_rels:
        print(f'error: no images found in {args.source!r}', file=sys.stderr)
        return 1
    meta = base_meta(args)
    out, rels = args.out, all_rels
    if partition is not None:
        num_parts, index = partition
        redo = tool_command(args.source, args.out, args.img_prefix, meta)
        rels, meta['part'] = part_block(
            all_rels, num_parts, index,
            f'{redo} --num-parts {num_parts} --part {{part}}')
        out = part_path(args.out, index, num_parts)
        log(f'part {index} of {num_parts}: images [{meta["part"]["start"]}, '
            f'{meta["part"]["end"]}) of {len(all_rels)} -> {out}')
    if partition is not None and _reusable(out, meta):
        log(f'{out} is done (same detector and parameters): reused')
    else:
        model = build_detector(args, _device(args.device))
        images, failed = propose_images(model, prefix, rels, args, log)
        written = write_output(out, rels, images, failed, meta)
        log(f'wrote {out}: {written["num_with_proposals"]} images with '
            f'boxes, {written["num_empty"]} without (under "empty"), '
            f'{written["num_failed"]} failed')
    if world > 1:
        barrier()
        code = 0
        if rank == 0:
            try:
                summary = merge_parts(args.out, num_parts=world)
            except PartError as e:
                print(f'error: {e}', file=sys.stderr)
                code = 1
            else:
                for path in summary['parts']:
                    os.remove(path)
                log(f'merged {world} parts into {args.out}: '
                    f'{summary["num_images"]} images')
        barrier()
        return code
    if partition is not None:
        log('when every part is done, merge them: python '
            f'tools/data/merge_proposals.py {args.out}')
    return 0

