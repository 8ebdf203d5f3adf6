# Copyright (c) mmalfm contributors. All rights reserved.
"""Generate a small, deterministic synthetic detection data set.

The data set contains RGB images of four shape classes (:data:`CLASSES`)
with random colours and textures, mutual occlusion and cluttered,
un-annotated backgrounds. It is small enough to be generated in seconds and
rich enough for a Faster/Mask R-CNN to learn something within minutes on a
CPU, and for region-level self-supervised methods to have objects to find.

Usage::

    python tools/data/make_demo_data.py [OUT_DIR] [--num-train 240] \
        [--num-val 60] [--seed 0] [--min-size 128] [--max-size 256]

``OUT_DIR`` defaults to ``data/demo``. The same images are written in a
COCO-like and a VOC-like layout::

    OUT_DIR/coco/{train2017,val2017}/000001.jpg ...
    OUT_DIR/coco/annotations/instances_{train2017,val2017}.json
    OUT_DIR/VOCdevkit/VOC2007/JPEGImages/000001.jpg ...   (hard links)
    OUT_DIR/VOCdevkit/VOC2007/Annotations/000001.xml ...
    OUT_DIR/VOCdevkit/VOC2007/ImageSets/Main/{train,val,trainval,test}.txt
    OUT_DIR/README.md

Conventions:

* Image ids (and file stems) run ``1..num_train`` for train and continue with
  ``num_train + 1..num_train + num_val`` for val, so names never collide in
  the VOC folder. ``test.txt`` lists the val split, ``trainval.txt`` the
  train split.
* Annotations describe the *visible* part of each object after occlusion.
  Objects that are more than 70 % occluded (or have fewer than
  :data:`MIN_VISIBLE_AREA` visible pixels) are dropped from the annotations;
  they remain in the image. Background blobs and lines are never annotated.
* COCO ``bbox`` is ``[x, y, w, h]`` in continuous pixel coordinates, tight
  around the visible pixels (pixel ``i`` covers ``[i, i + 1)``), so
  ``x = min column`` and ``w = max column - min column + 1``. ``area`` is the
  visible pixel count. ``segmentation`` is a list of polygons traced with
  :func:`cv2.findContours` on half-pixel vertices (see
  :func:`mask_to_polygons`) that ``pycocotools`` rasterises back to exactly
  the visible mask; holes (objects lying inside another object) are cut out
  with a zero-width "keyhole" bridge, which the even-odd rasteriser of
  ``pycocotools`` honours.
* VOC ``bndbox`` uses 1-based inclusive pixel indices:
  ``xmin = x + 1, ymin = y + 1, xmax = x + w, ymax = y + h`` (all integers).
  MMDetection's ``XMLDataset`` subtracts 1 from all four, giving
  ``[x, y, x + w - 1, y + h - 1]``, i.e. its usual VOC convention.

Every image is generated from its own generator
``numpy.random.default_rng((seed, image_id))``, so the output depends only on
the arguments (no global RNG, no clock), and re-running into an existing
directory overwrites it with identical bytes. Stale ``*.jpg``/``*.xml``
files in the generated folders are removed first.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

CLASSES = ('disc', 'square', 'triangle', 'star')
TEXTURES = ('flat', 'stripes', 'checkerboard', 'noise')

#: Smallest object extent (diameter of the enclosing circle) in pixels.
MIN_OBJECT_SIZE = 12
#: Largest object extent as a fraction of the image's short side.
MAX_OBJECT_FRACTION = 0.6
#: Objects whose visible fraction is below this are dropped (70 % occluded).
MIN_VISIBLE_FRACTION = 0.3
#: Objects with fewer visible pixels than this are dropped.
MIN_VISIBLE_AREA = 20
#: Number of objects drawn per image is drawn from ``[1, MAX_OBJECTS]``.
MAX_OBJECTS = 6
#: Minimal Euclidean RGB distance between an object and what lies below it.
MIN_CONTRAST = 60.0
JPEG_QUALITY = 95
SPLITS = ('train', 'val')
MAX_ATTEMPTS = 100

Annotation = Dict[str, object]


# --------------------------------------------------------------------------
# Image synthesis
# --------------------------------------------------------------------------
def random_colour(rng: np.random.Generator) -> np.ndarray:
    """Draw a uniformly random RGB colour.

    Args:
        rng (np.random.Generator): Random generator.

    Returns:
        np.ndarray: Float array of shape (3,) in ``[0, 255]``.
    """
    return rng.uniform(0, 255, size=3)


def gradient_background(rng: np.random.Generator, height: int,
                        width: int) -> np.ndarray:
    """Render a linear two-colour gradient at a random angle.

    Args:
        rng (np.random.Generator): Random generator.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: Float32 RGB canvas of shape (height, width, 3).
    """
    start, end = random_colour(rng), random_colour(rng)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    proj = xs * np.cos(angle) + ys * np.sin(angle)
    t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    canvas = start[None, None] * (1 - t[..., None]) + end[None, None] * t[...,
                                                                          None]
    return canvas.astype(np.float32)


def _blend(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray,
           alpha: float) -> None:
    """Alpha-blend a flat colour into ``canvas`` where ``mask`` is set.

    Args:
        canvas (np.ndarray): Float32 RGB canvas, modified in place.
        mask (np.ndarray): Uint8 mask of the same height and width.
        colour (np.ndarray): RGB colour of shape (3,).
        alpha (float): Opacity of the colour in ``[0, 1]``.
    """
    region = mask.astype(bool)
    canvas[region] = (1 - alpha) * canvas[region] + alpha * colour


def _low_contrast_colour(rng: np.random.Generator, canvas: np.ndarray, x: int,
                         y: int) -> np.ndarray:
    """Pick a colour close to the canvas colour at ``(x, y)``.

    Args:
        rng (np.random.Generator): Random generator.
        canvas (np.ndarray): Float32 RGB canvas.
        x (int): Column of the reference pixel.
        y (int): Row of the reference pixel.

    Returns:
        np.ndarray: RGB colour of shape (3,) in ``[0, 255]``.
    """
    height, width = canvas.shape[:2]
    ref = canvas[min(max(y, 0), height - 1), min(max(x, 0), width - 1)]
    return np.clip(ref + rng.uniform(-40, 40, size=3), 0, 255)


def add_distractors(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """Draw un-annotated low-contrast blobs and lines onto the background.

    Args:
        rng (np.random.Generator): Random generator.
        canvas (np.ndarray): Float32 RGB canvas, modified in place.
    """
    height, width = canvas.shape[:2]
    short = min(height, width)
    for _ in range(int(rng.integers(3, 10))):
        mask = np.zeros((height, width), np.uint8)
        cx, cy = int(rng.integers(width)), int(rng.integers(height))
        axes = (int(rng.integers(4, short // 3)),
                int(rng.integers(4, short // 3)))
        cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360,
                    1, -1)
        colour = _low_contrast_colour(rng, canvas, cx, cy)
        _blend(canvas, mask, colour, float(rng.uniform(0.3, 0.7)))
    for _ in range(int(rng.integers(2, 8))):
        mask = np.zeros((height, width), np.uint8)
        p1 = (int(rng.integers(width)), int(rng.integers(height)))
        p2 = (int(rng.integers(width)), int(rng.integers(height)))
        cv2.line(mask, p1, p2, 1, int(rng.integers(1, 4)))
        colour = _low_contrast_colour(rng, canvas, *p1)
        _blend(canvas, mask, colour, float(rng.uniform(0.4, 0.8)))


def shape_outline(label: int, radius: float) -> np.ndarray:
    """Return the canonical outline of a shape centred at the origin.

    Disc outlines are returned as a dense polygon so that all shapes can be
    transformed and rasterised the same way.

    Args:
        label (int): 0-based class index into :data:`CLASSES`.
        radius (float): Radius of the enclosing circle.

    Returns:
        np.ndarray: Float array of shape (N, 2) with (x, y) vertices.
    """
    name = CLASSES[label]
    if name == 'disc':
        angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        radii = np.full_like(angles, radius)
    elif name == 'square':
        angles = np.pi / 4 + np.arange(4) * np.pi / 2
        radii = np.full_like(angles, radius)
    elif name == 'triangle':
        angles = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        radii = np.full_like(angles, radius)
    elif name == 'star':
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    else:
        raise ValueError(f'Unknown shape {name!r}')
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def random_shape_mask(rng: np.random.Generator, label: int, height: int,
                      width: int) -> np.ndarray:
    """Rasterise one randomly scaled, stretched and rotated shape.

    The object lies entirely inside the image (VOC ``truncated`` is 0).

    Args:
        rng (np.random.Generator): Random generator.
        label (int): 0-based class index into :data:`CLASSES`.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: Uint8 mask of shape (height, width) with values 0/1.
    """
    max_size = MAX_OBJECT_FRACTION * min(height, width)
    size = float(
        np.exp(rng.uniform(np.log(MIN_OBJECT_SIZE), np.log(max_size))))
    points = shape_outline(label, size / 2)
    # Mild anisotropic stretch keeps the classes distinct (a disc becomes an
    # ellipse, a square a rectangle) while adding variety.
    stretch = np.array([rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0)])
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])
    points = (points * stretch) @ rot.T
    lo, hi = points.min(axis=0), points.max(axis=0)
    cx = rng.uniform(-lo[0], width - 1 - hi[0])
    cy = rng.uniform(-lo[1], height - 1 - hi[1])
    points = np.round(points + np.array([cx, cy])).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return mask


def random_texture(rng: np.random.Generator, height: int, width: int,
                   base: np.ndarray) -> np.ndarray:
    """Render a random texture (flat, stripes, checkerboard or noise).

    Args:
        rng (np.random.Generator): Random generator.
        height (int): Texture height.
        width (int): Texture width.
        base (np.ndarray): Dominant RGB colour of shape (3,).

    Returns:
        np.ndarray: Float32 RGB texture of shape (height, width, 3).
    """
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    second = np.clip(base + rng.uniform(-90, 90, size=3), 0, 255)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 'flat':
        weight = np.zeros((height, width), np.float32)
    elif kind == 'stripes':
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(4, 14)
        proj = xs * np.cos(angle) + ys * np.sin(angle) + rng.uniform(0, period)
        weight = ((proj % period) < period / 2).astype(np.float32)
    elif kind == 'checkerboard':
        cell = int(rng.integers(3, 11))
        weight = ((xs // cell + ys // cell) % 2).astype(np.float32)
    else:  # smooth value noise
        coarse = rng.random((height // 4 + 2, width // 4 + 2))
        weight = cv2.resize(
            coarse.astype(np.float32), (width, height),
            interpolation=cv2.INTER_LINEAR)
    weight = weight[..., None]
    texture = base[None, None] * (1 - weight) + second[None, None] * weight
    return texture.astype(np.float32)


def contrasting_colour(rng: np.random.Generator,
                       reference: np.ndarray) -> np.ndarray:
    """Draw a colour that stands out against ``reference``.

    Up to 10 candidates are drawn; the first one at least
    :data:`MIN_CONTRAST` away from ``reference`` wins, else the farthest.

    Args:
        rng (np.random.Generator): Random generator.
        reference (np.ndarray): RGB colour of shape (3,) to contrast with.

    Returns:
        np.ndarray: RGB colour of shape (3,).
    """
    best, best_dist = None, -1.0
    for _ in range(10):
        colour = random_colour(rng)
        dist = float(np.linalg.norm(colour - reference))
        if dist >= MIN_CONTRAST:
            return colour
        if dist > best_dist:
            best, best_dist = colour, dist
    return best


def paint_object(rng: np.random.Generator, canvas: np.ndarray,
                 mask: np.ndarray) -> None:
    """Paint a textured object into ``canvas`` where ``mask`` is set.

    Args:
        rng (np.random.Generator): Random generator.
        canvas (np.ndarray): Float32 RGB canvas, modified in place.
        mask (np.ndarray): Uint8 object mask of the canvas size.
    """
    x, y, w, h = cv2.boundingRect(mask)
    region = mask[y:y + h, x:x + w].astype(bool)
    patch = canvas[y:y + h, x:x + w]
    base = contrasting_colour(rng, patch[region].mean(axis=0))
    texture = random_texture(rng, h, w, base)
    patch[region] = texture[region]


def synthesize_image(
        rng: np.random.Generator, height: int,
        width: int) -> Tuple[np.ndarray, List[int], List[np.ndarray]]:
    """Synthesise one image with occluding objects (painter's order).

    Args:
        rng (np.random.Generator): Random generator.
        height (int): Image height.
        width (int): Image width.

    Returns:
        tuple: ``(image, labels, visible_masks)``: the uint8 RGB image, the
        0-based labels of the objects kept for annotation and their visible
        boolean masks (objects that are mostly occluded are left out).
    """
    canvas = gradient_background(rng, height, width)
    add_distractors(rng, canvas)
    owner = np.full((height, width), -1, np.int16)
    labels, full_areas = [], []
    for index in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        label = int(rng.integers(len(CLASSES)))
        mask = random_shape_mask(rng, label, height, width)
        paint_object(rng, canvas, mask)
        owner[mask.astype(bool)] = index
        labels.append(label)
        full_areas.append(int(mask.sum()))
    canvas += rng.normal(0, rng.uniform(2, 6), size=canvas.shape)
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)

    kept_labels, kept_masks = [], []
    for index, (label, full_area) in enumerate(zip(labels, full_areas)):
        visible = owner == index
        area = int(visible.sum())
        if area < MIN_VISIBLE_AREA or area < MIN_VISIBLE_FRACTION * full_area:
            continue
        kept_labels.append(label)
        kept_masks.append(visible)
    return image, kept_labels, kept_masks


# --------------------------------------------------------------------------
# Annotation helpers
# --------------------------------------------------------------------------
def _is_degenerate(contour: np.ndarray) -> bool:
    """Whether a contour has fewer than 3 points or no enclosed area."""
    return len(contour) < 3 or cv2.contourArea(contour) <= 0


def _bridge_hole(outer: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Merge a hole into its outer ring with a zero-width keyhole bridge.

    Args:
        outer (np.ndarray): Outer ring of shape (N, 2).
        hole (np.ndarray): Hole ring of shape (M, 2).

    Returns:
        np.ndarray: Single ring of shape (N + M + 2, 2) that an even-odd
        rasteriser fills without the hole.
    """
    dist = ((outer[:, None, :] - hole[None, :, :])**2).sum(axis=-1)
    i, j = np.unravel_index(int(np.argmin(dist)), dist.shape)
    return np.concatenate([outer[:i + 1], hole[j:], hole[:j + 1], outer[i:]],
                          axis=0)


def mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    """Trace COCO polygons around a binary mask, pixel-exactly.

    Contours are traced on the mask upsampled 2x (nearest) and mapped back
    with ``v / 2``, so every vertex lies on a half-pixel. ``pycocotools``
    fills pixel ``i`` when ``i`` lies in ``[left, right)`` of the polygon,
    so these polygons rasterise back to exactly the input mask (tracing the
    original mask instead runs through the boundary pixels' indices and
    loses about one pixel ring on the right and bottom, ~10 % of the area of
    a small object). One-pixel-wide slivers become thin but valid polygons.

    Every outer contour becomes one polygon; its holes (e.g. an occluding
    object lying inside) are cut out with :func:`_bridge_hole`. Degenerate
    contours (fewer than 3 points or zero area) are dropped.

    Args:
        mask (np.ndarray): Binary mask of shape (H, W).

    Returns:
        list[list[float]]: Flat ``[x1, y1, x2, y2, ...]`` polygons, possibly
        empty.
    """
    upsampled = mask.astype(np.uint8).repeat(2, axis=0).repeat(2, axis=1)
    contours, hierarchy = cv2.findContours(upsampled, cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]  # rows: next, previous, first child, parent
    polygons = []
    for index, contour in enumerate(contours):
        if hierarchy[index][3] != -1 or _is_degenerate(contour):
            continue
        ring = contour.reshape(-1, 2)
        child = hierarchy[index][2]
        while child != -1:
            if not _is_degenerate(contours[child]):
                ring = _bridge_hole(ring, contours[child].reshape(-1, 2))
            child = hierarchy[child][0]
        polygons.append([float(v) / 2 for v in ring.ravel()])
    return polygons


def mask_to_bbox(mask: np.ndarray) -> List[float]:
    """Tight ``[x, y, w, h]`` box around the set pixels of a mask.

    Pixel ``i`` covers ``[i, i + 1)``, so the box spans from the first set
    column/row to one past the last.

    Args:
        mask (np.ndarray): Binary mask of shape (H, W) with a set pixel.

    Returns:
        list[float]: The box in continuous pixel coordinates.
    """
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [
        float(x0),
        float(y0),
        float(xs.max() - x0 + 1),
        float(ys.max() - y0 + 1)
    ]


def bbox_to_polygon(bbox: Sequence[float]) -> List[float]:
    """Rectangle polygon of an ``[x, y, w, h]`` box (fallback segmentation).

    Args:
        bbox (Sequence[float]): Box as ``[x, y, w, h]``.

    Returns:
        list[float]: Flat polygon with 4 vertices.
    """
    x, y, w, h = bbox
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def coco_bbox_to_voc(bbox: Sequence[float]) -> Tuple[int, int, int, int]:
    """Convert a COCO ``[x, y, w, h]`` box to 1-based VOC corners.

    The rule is ``xmin = x + 1, ymin = y + 1, xmax = x + w, ymax = y + h``,
    i.e. 1-based inclusive pixel indices. Boxes produced by this tool are
    integral, so the conversion is exact.

    Args:
        bbox (Sequence[float]): Box as ``[x, y, w, h]``.

    Returns:
        tuple[int, int, int, int]: ``(xmin, ymin, xmax, ymax)``.
    """
    x, y, w, h = bbox
    return (int(round(x)) + 1, int(round(y)) + 1, int(round(x + w)),
            int(round(y + h)))


def _round(values: Sequence[float]) -> List[float]:
    """Round floats to 2 decimals so that the JSON bytes are stable."""
    return [round(float(v), 2) for v in values]


def make_annotations(labels: Sequence[int],
                     masks: Sequence[np.ndarray]) -> List[Annotation]:
    """Build COCO annotation dicts (without ids) from visible masks.

    Args:
        labels (Sequence[int]): 0-based class indices.
        masks (Sequence[np.ndarray]): Visible boolean masks.

    Returns:
        list[dict]: Dicts with ``category_id``, ``bbox``, ``area``,
        ``segmentation`` and ``iscrowd``.
    """
    annotations = []
    for label, mask in zip(labels, masks):
        bbox = mask_to_bbox(mask)
        polygons = mask_to_polygons(mask) or [bbox_to_polygon(bbox)]
        annotations.append(
            dict(
                category_id=label + 1,
                bbox=_round(bbox),
                area=float(mask.sum()),
                segmentation=[_round(poly) for poly in polygons],
                iscrowd=0))
    return annotations


def generate_sample(rng: np.random.Generator, min_size: int,
                    max_size: int) -> Tuple[np.ndarray, List[Annotation]]:
    """Draw an image size and synthesise an image with ≥ 1 annotation.

    Images whose objects all got dropped are re-drawn from the same
    generator, so the result stays deterministic.

    Args:
        rng (np.random.Generator): Random generator.
        min_size (int): Minimal image side.
        max_size (int): Maximal image side.

    Returns:
        tuple: The uint8 RGB image and its annotations.
    """
    width = int(rng.integers(min_size, max_size + 1))
    height = int(rng.integers(min_size, max_size + 1))
    for _ in range(MAX_ATTEMPTS):
        image, labels, masks = synthesize_image(rng, height, width)
        if labels:
            return image, make_annotations(labels, masks)
    raise RuntimeError('Could not synthesise an image with an annotation')


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------
def prepare_dirs(out_dir: Path) -> Dict[str, Path]:
    """Create the output folders and remove stale generated files.

    Args:
        out_dir (Path): Root output folder.

    Returns:
        dict[str, Path]: Named folders of the layout.
    """
    voc = out_dir / 'VOCdevkit' / 'VOC2007'
    dirs = dict(
        coco=out_dir / 'coco',
        coco_ann=out_dir / 'coco' / 'annotations',
        train=out_dir / 'coco' / 'train2017',
        val=out_dir / 'coco' / 'val2017',
        voc=voc,
        voc_img=voc / 'JPEGImages',
        voc_ann=voc / 'Annotations',
        voc_sets=voc / 'ImageSets' / 'Main')
    stale = dict(train='*.jpg', val='*.jpg', voc_img='*.jpg', voc_ann='*.xml')
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        if key in stale:
            for old in sorted(path.glob(stale[key])):
                old.unlink()
    return dirs


def write_jpeg(path: Path, image: np.ndarray) -> None:
    """Write an RGB image as a JPEG (quality :data:`JPEG_QUALITY`).

    Args:
        path (Path): Destination file.
        image (np.ndarray): Uint8 RGB image.
    """
    ok = cv2.imwrite(
        str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise IOError(f'Failed to write {path}')


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst``, copying when linking is impossible.

    Args:
        src (Path): Existing file.
        dst (Path): Destination path (replaced if it exists).
    """
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def voc_xml(file_name: str, width: int, height: int,
            annotations: Sequence[Annotation]) -> str:
    """Serialise one image's annotations as Pascal VOC XML.

    Args:
        file_name (str): Image file name, e.g. ``'000001.jpg'``.
        width (int): Image width.
        height (int): Image height.
        annotations (Sequence[dict]): COCO-style annotations of the image.

    Returns:
        str: The XML document.
    """
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = 'VOC2007'
    ET.SubElement(root, 'filename').text = file_name
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'database').text = 'mmalfm synthetic demo'
    size = ET.SubElement(root, 'size')
    for key, value in (('width', width), ('height', height), ('depth', 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(root, 'segmented').text = '0'
    for ann in annotations:
        obj = ET.SubElement(root, 'object')
        ET.SubElement(obj, 'name').text = CLASSES[ann['category_id'] - 1]
        ET.SubElement(obj, 'pose').text = 'Unspecified'
        ET.SubElement(obj, 'truncated').text = '0'
        ET.SubElement(obj, 'difficult').text = '0'
        box = ET.SubElement(obj, 'bndbox')
        corners = coco_bbox_to_voc(ann['bbox'])
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), corners):
            ET.SubElement(box, key).text = str(value)
    ET.indent(root, space='  ')
    return ET.tostring(root, encoding='unicode') + '\n'


def coco_json(images: List[dict], annotations: List[Annotation],
              seed: int) -> str:
    """Serialise one split as a COCO instances JSON string.

    Args:
        images (list[dict]): Image records.
        annotations (list[dict]): Annotation records with ids.
        seed (int): Seed recorded in ``info`` (no time stamps).

    Returns:
        str: Compact JSON with sorted keys.
    """
    content = dict(
        info=dict(
            description='mmalfm synthetic demo detection data set',
            version='1.0',
            contributor='tools/data/make_demo_data.py',
            seed=seed),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES)
        ])
    return json.dumps(
        content, indent=None, separators=(',', ':'), sort_keys=True)


def readme_text(out_dir: Union[str, Path], args: Dict[str, int],
                counts: Dict[str, Dict[str, int]]) -> str:
    """Compose the short README of the generated data set.

    Args:
        out_dir (str | Path): Output folder as given by the user.
        args (dict[str, int]): Generation arguments.
        counts (dict): Per split ``{'images': n, 'annotations': m}``.

    Returns:
        str: Markdown text.
    """
    command = (f'python tools/data/make_demo_data.py {out_dir} '
               f'--num-train {args["num_train"]} --num-val {args["num_val"]} '
               f'--seed {args["seed"]} --min-size {args["min_size"]} '
               f'--max-size {args["max_size"]}')
    classes = ', '.join(f'{i + 1}: {name}' for i, name in enumerate(CLASSES))
    lines = [
        '# mmalfm synthetic demo detection data', '',
        'Deterministic synthetic images of textured shapes with occlusion on '
        'cluttered backgrounds (background blobs/lines are not annotated), '
        'for smoke tests and quick CPU runs.', '',
        f'- train: {counts["train"]["images"]} images, '
        f'{counts["train"]["annotations"]} objects',
        f'- val: {counts["val"]["images"]} images, '
        f'{counts["val"]["annotations"]} objects',
        f'- image sides: {args["min_size"]}-{args["max_size"]} px',
        f'- classes (COCO category ids): {classes}',
        '- `coco/`: COCO json (polygons of the visible parts); '
        '`VOCdevkit/VOC2007/`: the same images, VOC XML '
        '(trainval = train, test = val)', '', f'Made with `{command}`.', ''
    ]
    return '\n'.join(lines)


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------
def _check_args(num_train: int, num_val: int, seed: int, min_size: int,
                max_size: int) -> None:
    """Validate the generation arguments, raising ``ValueError``."""
    if num_train < 1 or num_val < 0:
        raise ValueError('num_train must be >= 1 and num_val >= 0')
    if seed < 0:
        raise ValueError('seed must be non-negative')
    if not 32 <= min_size <= max_size:
        raise ValueError('Need 32 <= min_size <= max_size')


IMAGE_SETS = dict(train=('train', 'trainval'), val=('val', 'test'))


def write_sample(dirs: Dict[str, Path], split: str, image_id: int,
                 image: np.ndarray, annotations: Sequence[Annotation]) -> dict:
    """Write one image (COCO folder + VOC hard link) and its VOC XML.

    Args:
        dirs (dict[str, Path]): Folders from :func:`prepare_dirs`.
        split (str): ``'train'`` or ``'val'``.
        image_id (int): Image id, also the zero-padded file stem.
        image (np.ndarray): Uint8 RGB image.
        annotations (Sequence[dict]): Its annotations (without ids).

    Returns:
        dict: The COCO image record.
    """
    stem = f'{image_id:06d}'
    file_name = f'{stem}.jpg'
    height, width = image.shape[:2]
    write_jpeg(dirs[split] / file_name, image)
    link_or_copy(dirs[split] / file_name, dirs['voc_img'] / file_name)
    (dirs['voc_ann'] / f'{stem}.xml').write_text(
        voc_xml(file_name, width, height, annotations), encoding='utf-8')
    return dict(id=image_id, file_name=file_name, width=width, height=height)


def write_split(dirs: Dict[str, Path], split: str, image_ids: range,
                first_ann_id: int, seed: int, min_size: int,
                max_size: int) -> Tuple[Path, int]:
    """Generate and write all images and annotation files of one split.

    Args:
        dirs (dict[str, Path]): Folders from :func:`prepare_dirs`.
        split (str): ``'train'`` or ``'val'``.
        image_ids (range): Image ids of the split.
        first_ann_id (int): Id of the split's first annotation.
        seed (int): Random seed; image ``i`` uses
            ``np.random.default_rng((seed, i))``.
        min_size (int): Minimal image side.
        max_size (int): Maximal image side.

    Returns:
        tuple[Path, int]: The COCO json path and the number of annotations.
    """
    images, annotations = [], []
    for image_id in image_ids:
        rng = np.random.default_rng((seed, image_id))
        image, anns = generate_sample(rng, min_size, max_size)
        images.append(write_sample(dirs, split, image_id, image, anns))
        for ann in anns:
            ann_id = first_ann_id + len(annotations)
            annotations.append(dict(ann, id=ann_id, image_id=image_id))
    ann_file = dirs['coco_ann'] / f'instances_{split}2017.json'
    ann_file.write_text(coco_json(images, annotations, seed), encoding='utf-8')
    stems = ''.join(f'{image_id:06d}\n' for image_id in image_ids)
    for name in IMAGE_SETS[split]:
        (dirs['voc_sets'] / f'{name}.txt').write_text(stems, encoding='utf-8')
    return ann_file, len(annotations)


def make_demo_data(out_dir: Union[str, Path],
                   num_train: int = 240,
                   num_val: int = 60,
                   seed: int = 0,
                   min_size: int = 128,
                   max_size: int = 256) -> dict:
    """Generate the synthetic demo data set.

    Args:
        out_dir (str | Path): Output folder (created or overwritten).
        num_train (int): Number of train images. Defaults to 240.
        num_val (int): Number of val (= VOC test) images. Defaults to 60.
        seed (int): Non-negative random seed. Defaults to 0.
        min_size (int): Minimal image side in pixels. Defaults to 128.
        max_size (int): Maximal image side in pixels. Defaults to 256.

    Returns:
        dict: ``out_dir``, ``coco_root``, ``voc_root``, ``ann_files``
        (split -> COCO json path), ``img_dirs`` (split -> image folder),
        ``num_images`` and ``num_annotations`` (split -> count) and
        ``classes``.
    """
    _check_args(num_train, num_val, seed, min_size, max_size)
    dirs = prepare_dirs(Path(out_dir))
    image_ids = dict(
        train=range(1, num_train + 1),
        val=range(num_train + 1, num_train + num_val + 1))
    ann_files, counts, next_ann_id = {}, {}, 1
    for split in SPLITS:
        ann_files[split], num_anns = write_split(dirs, split, image_ids[split],
                                                 next_ann_id, seed, min_size,
                                                 max_size)
        next_ann_id += num_anns
        counts[split] = dict(
            images=len(image_ids[split]), annotations=num_anns)
    args = dict(
        num_train=num_train,
        num_val=num_val,
        seed=seed,
        min_size=min_size,
        max_size=max_size)
    (Path(out_dir) / 'README.md').write_text(
        readme_text(out_dir, args, counts), encoding='utf-8')
    return dict(
        out_dir=str(out_dir),
        coco_root=str(dirs['coco']),
        voc_root=str(dirs['voc']),
        ann_files={
            split: str(path)
            for split, path in ann_files.items()
        },
        img_dirs={split: str(dirs[split])
                  for split in SPLITS},
        num_images={
            split: c['images']
            for split, c in counts.items()
        },
        num_annotations={
            split: c['annotations']
            for split, c in counts.items()
        },
        classes=CLASSES)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse command line arguments.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv`` if None.

    Returns:
        argparse.Namespace: Parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Generate a small synthetic detection data set '
        '(COCO and VOC layouts).')
    parser.add_argument(
        'out_dir',
        nargs='?',
        default=osp.join('data', 'demo'),
        help='output folder (default: data/demo)')
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-val', type=int, default=60)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--min-size', type=int, default=128)
    parser.add_argument('--max-size', type=int, default=256)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line entry point."""
    args = parse_args(argv)
    start = time.perf_counter()
    info = make_demo_data(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed,
        min_size=args.min_size,
        max_size=args.max_size)
    print(f'Wrote {info["num_images"]["train"]} train / '
          f'{info["num_images"]["val"]} val images '
          f'({info["num_annotations"]["train"]} / '
          f'{info["num_annotations"]["val"]} objects, '
          f'{len(CLASSES)} classes) to {info["out_dir"]} '
          f'in {time.perf_counter() - start:.1f} s')

