# Copyright (c) mmalfm contributors. All rights reserved.
"""Geometry of augmented views and box tracking between views (pure torch).

Convention: boxes are ``(x1, y1, x2, y2)`` **continuous pixel corners** in
**source-image pixels** (pixel ``i`` spans ``[i, i + 1)``). A view is made by
cropping the source rectangle ``crop = (x1, y1, x2, y2)``, resizing it to
``out_size = (out_w, out_h)`` (aspect not necessarily preserved) and, when
``flip`` is set, mirroring it horizontally (``x -> out_w - x`` in view
pixels). Hence, for an unflipped view::

    x_view = (x_src - crop_x1) * out_w / crop_w
    y_view = (y_src - crop_y1) * out_h / crop_h

Every function is batched: a :class:`ViewGeometry` has a batch shape ``G``
(e.g. ``[N]`` for one view of ``N`` images); per-image box sets have shape
``G + [M, 4]``. Outputs take the dtype and device of the boxes.
See ``docs/advanced_guides/geometry.md`` for a worked example.
"""
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .box_ops import (box_area, boxes_overlap, grid_in_box, hflip_boxes,
                      intersect_boxes, pairwise_overlap)

Number = Union[int, float]
SizeLike = Union[int, Sequence[int], Tensor]
DeviceLike = Union[str, torch.device, None]

__all__ = [
    'ViewGeometry', 'src_to_view', 'view_to_src', 'view_to_view',
    'clip_to_crop', 'inside_view', 'intersects_view', 'crop_intersection',
    'overlap_fraction', 'feature_grid_to_src', 'patch_overlap'
]


class ViewGeometry:
    """Crop rectangle, output size and flip flag of one or many views.

    Args:
        crop (Tensor): ``G + [4]`` crop ``(x1, y1, x2, y2)`` in source pixels
            (floating point).
        out_size (Tensor | int | sequence): ``G + [2]`` output
            ``(out_w, out_h)`` -- width first, unlike torchvision's
            ``(h, w)``; an int or a pair broadcasts to every view.
        flip (Tensor | bool): ``G`` horizontal-flip flags (default False).
    """

    def __init__(self,
                 crop: Tensor,
                 out_size: SizeLike,
                 flip: Union[Tensor, bool] = False) -> None:
        if crop.shape[-1:] != (4, ):
            raise ValueError(f'crop must be [..., 4], got {tuple(crop.shape)}')
        if not crop.is_floating_point():
            crop = crop.float()
        batch = crop.shape[:-1]
        if isinstance(out_size, int):
            out_size = (out_size, out_size)
        out_size = torch.as_tensor(out_size, device=crop.device)
        self.crop = crop
        self.out_size = out_size.to(crop.dtype).expand(*batch, 2)
        flip = torch.as_tensor(flip, dtype=torch.bool, device=crop.device)
        self.flip = flip.expand(batch)

    # ------------------------------------------------------------ builders
    @classmethod
    def from_crop(cls,
                  x: Union[Number, Tensor],
                  y: Union[Number, Tensor],
                  w: Union[Number, Tensor],
                  h: Union[Number, Tensor],
                  out_size: SizeLike,
                  flip: Union[Tensor, bool] = False,
                  dtype: torch.dtype = torch.float32,
                  device: DeviceLike = None) -> 'ViewGeometry':
        """Build from an ``(x=left, y=top, w, h)`` crop (numbers or tensors).

        torchvision's / mmpretrain's ``RandomResizedCrop`` parameters come as
        ``(top, left, height, width)``: use :meth:`from_ijhw` for those.

        Args:
            x, y (Number | Tensor): left and top edge in source pixels.
            w, h (Number | Tensor): crop width and height in source pixels.
            out_size (int | sequence | Tensor): ``(out_w, out_h)`` or ``S``.
            flip (bool | Tensor): horizontal flip of the resized crop.
            dtype (torch.dtype): floating dtype of the record.
            device (str | torch.device, optional): device of the record.

        Returns:
            ViewGeometry: batch shape = broadcast shape of the inputs.
        """
        x, y, w, h = torch.broadcast_tensors(
            *(torch.as_tensor(v, dtype=dtype, device=device)
              for v in (x, y, w, h)))
        return cls(torch.stack([x, y, x + w, y + h], dim=-1), out_size, flip)

    @classmethod
    def from_ijhw(cls, i: Union[Number, Tensor], j: Union[Number, Tensor],
                  h: Union[Number, Tensor], w: Union[Number, Tensor],
                  out_size: SizeLike, flip: Union[Tensor, bool] = False,
                  **kwargs) -> 'ViewGeometry':
        """Build from torchvision-order ``(top, left, height, width)``.

        This is the tuple returned by ``torchvision.transforms.
        RandomResizedCrop.get_params`` and by mmpretrain's
        ``RandomResizedCrop.rand_crop_params``.

        Args:
            i, j (Number | Tensor): top and left edge in source pixels.
            h, w (Number | Tensor): crop height and width.
            out_size (int | sequence | Tensor): ``(out_w, out_h)`` or ``S``.
            flip (bool | Tensor): horizontal flip flag.
            **kwargs: ``dtype`` / ``device`` as in :meth:`from_crop`.

        Returns:
            ViewGeometry: the view record.
        """
        return cls.from_crop(j, i, w, h, out_size, flip, **kwargs)

    @classmethod
    def from_flipped_source_crop(cls, x: Union[Number, Tensor],
                                 y: Union[Number, Tensor],
                                 w: Union[Number, Tensor],
                                 h: Union[Number, Tensor],
                                 img_w: Union[Number, Tensor],
                                 out_size: SizeLike,
                                 **kwargs) -> 'ViewGeometry':
        """A crop taken from the *horizontally flipped* source image.

        CrossCL flips the whole image first and crops afterwards; the same
        pixels are obtained by cropping the mirrored rectangle
        ``(img_w - x - w, y, w, h)`` of the original image and flipping the
        result, which is what this returns.

        Args:
            x, y, w, h (Number | Tensor): crop in flipped-image pixels.
            img_w (Number | Tensor): source image width.
            out_size (int | sequence | Tensor): ``(out_w, out_h)`` or ``S``.
            **kwargs: ``dtype`` / ``device`` as in :meth:`from_crop`.

        Returns:
            ViewGeometry: the view record with ``flip=True``.
        """
        return cls.from_crop(img_w - x - w, y, w, h, out_size, True, **kwargs)

    @staticmethod
    def stack(geoms: Sequence['ViewGeometry'],
              dim: int = 0) -> 'ViewGeometry':
        """Stack geometries of equal batch shape along a new batch dim.

        Args:
            geoms (Sequence[ViewGeometry]): records with batch shape ``G``.
            dim (int): position of the new dim among the batch dims (>= 0).

        Returns:
            ViewGeometry: batch shape ``G`` with ``len(geoms)`` inserted.
        """
        return ViewGeometry(
            torch.stack([g.crop for g in geoms], dim),
            torch.stack([g.out_size for g in geoms], dim),
            torch.stack([g.flip for g in geoms], dim))

    @staticmethod
    def cat(geoms: Sequence['ViewGeometry']) -> 'ViewGeometry':
        """Concatenate geometries along the first batch dim.

        Args:
            geoms (Sequence[ViewGeometry]): records with batch shapes
                ``[n_i] + G``.

        Returns:
            ViewGeometry: batch shape ``[sum n_i] + G``.
        """
        return ViewGeometry(
            torch.cat([g.crop for g in geoms]),
            torch.cat([g.out_size for g in geoms]),
            torch.cat([g.flip for g in geoms]))

    # ---------------------------------------------------- (de)serialising
    def to_dict(self) -> Dict[str, Any]:
        """Plain-Python form, suitable for a data sample's metainfo.

        Returns:
            dict: ``crop`` (nested lists of float), ``out_size`` (nested
            lists of int) and ``flip`` (nested lists of bool), all with the
            record's batch shape.
        """
        return dict(
            crop=self.crop.tolist(),
            out_size=self.out_size.round().long().tolist(),
            flip=self.flip.tolist())

    @classmethod
    def from_dict(cls,
                  data: Dict[str, Any],
                  device: DeviceLike = None,
                  dtype: torch.dtype = torch.float32) -> 'ViewGeometry':
        """Inverse of :meth:`to_dict`.

        Args:
            data (dict): output of :meth:`to_dict`.
            device (str | torch.device, optional): target device.
            dtype (torch.dtype): floating dtype of the record.

        Returns:
            ViewGeometry: the rebuilt record.
        """
        return cls(
            torch.tensor(data['crop'], dtype=dtype, device=device),
            torch.tensor(data['out_size'], dtype=dtype, device=device),
            torch.tensor(data['flip'], dtype=torch.bool, device=device))

    @classmethod
    def collate(cls,
                items: Sequence[Union[Dict[str, Any], Sequence[Dict]]],
                device: DeviceLike = None,
                dtype: torch.dtype = torch.float32) -> 'ViewGeometry':
        """Batch per-image geometry dicts into one record on ``device``.

        Args:
            items (Sequence): one entry per image, either a :meth:`to_dict`
                output (e.g. of the image's ``[K]`` views) or a list of
                single-view dicts (stacked as that image's views).
            device (str | torch.device, optional): target device.
            dtype (torch.dtype): floating dtype of the record.

        Returns:
            ViewGeometry: batch shape ``[N] + G`` (``G`` = per-image shape,
            e.g. ``[K]``); ``geom[:, k]`` is view ``k`` of every image.
        """
        items = [_merge_view_dicts(it) for it in items]
        return cls.from_dict({k: [it[k] for it in items]
                              for k in ('crop', 'out_size', 'flip')},
                             device=device, dtype=dtype)

    # ------------------------------------------------------------ tensors
    def to(self,
           device: DeviceLike = None,
           dtype: Optional[torch.dtype] = None) -> 'ViewGeometry':
        """Move to ``device`` and/or cast the floating fields to ``dtype``.

        Args:
            device (str | torch.device, optional): target device.
            dtype (torch.dtype, optional): target floating dtype.

        Returns:
            ViewGeometry: a new record.
        """
        return ViewGeometry(
            self.crop.to(device=device, dtype=dtype),
            self.out_size.to(device=device, dtype=dtype),
            self.flip.to(device=device))

    def __getitem__(self, index: Any) -> 'ViewGeometry':
        """Index the batch dims (no Ellipsis: it would reach the fields)."""
        return ViewGeometry(self.crop[index], self.out_size[index],
                            self.flip[index])

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError('len() of a single (0-d) ViewGeometry')
        return self.batch_shape[0]

    def __repr__(self) -> str:
        return (f'ViewGeometry(batch_shape={tuple(self.batch_shape)}, '
                f'crop={self.crop.tolist()}, out_size='
                f'{self.out_size.tolist()}, flip={self.flip.tolist()})')

    @property
    def batch_shape(self) -> torch.Size:
        """torch.Size: the batch shape ``G``."""
        return self.crop.shape[:-1]

    @property
    def device(self) -> torch.device:
        """torch.device: device of the fields."""
        return self.crop.device

    @property
    def dtype(self) -> torch.dtype:
        """torch.dtype: floating dtype of ``crop`` and ``out_size``."""
        return self.crop.dtype

    @property
    def crop_size(self) -> Tensor:
        """Tensor: ``G + [2]`` crop ``(w, h)`` in source pixels."""
        return self.crop[..., 2:] - self.crop[..., :2]

    @property
    def scale(self) -> Tensor:
        """Tensor: ``G + [2]`` ``(out_w / crop_w, out_h / crop_h)``."""
        return self.out_size / self.crop_size

    @property
    def view_box(self) -> Tensor:
        """Tensor: ``G + [4]`` the whole view ``(0, 0, out_w, out_h)``."""
        return torch.cat([torch.zeros_like(self.out_size), self.out_size], -1)


def _merge_view_dicts(item: Union[Dict, Sequence[Dict]]) -> Dict[str, Any]:
    """Turn a list of single-view dicts into one dict of lists."""
    if isinstance(item, dict):
        return item
    return {k: [d[k] for d in item] for k in ('crop', 'out_size', 'flip')}


def _params(geom: ViewGeometry,
            ref: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Geometry fields in ``ref``'s dtype/device, ready to broadcast.

    Returns ``origin4 = (cx1, cy1, cx1, cy1)``, ``size4 = (cw, ch, cw, ch)``,
    ``out4 = (W, H, W, H)`` (each ``G + [1, 4]``) and ``flip``
    (``G + [1, 1]``), to broadcast against ``G + [M, 4]`` boxes.
    """
    crop = geom.crop.to(device=ref.device, dtype=ref.dtype)[..., None, :]
    out = geom.out_size.to(device=ref.device, dtype=ref.dtype)[..., None, :]
    flip = geom.flip.to(ref.device)[..., None, None]
    idx = [0, 1, 0, 1]
    size = crop[..., 2:] - crop[..., :2]
    return crop[..., idx], size[..., idx], out[..., idx], flip


def _mirror(boxes: Tensor, out4: Tensor, flip: Tensor) -> Tensor:
    """Mirror boxes in the view where ``flip`` is set (an involution)."""
    return torch.where(flip, hflip_boxes(boxes, out4[..., 0]), boxes)


def src_to_view(boxes: Tensor, geom: ViewGeometry) -> Tensor:
    """Map boxes from source pixels into view pixels (no clipping).

    ``x_v = (x - cx1) * W / cw`` (then ``W - x_v`` if flipped); the operation
    order matches CrossCL's released formula bit for bit.

    Args:
        boxes (Tensor): ``G + [M, 4]`` boxes in source pixels.
        geom (ViewGeometry): views with batch shape ``G``.

    Returns:
        Tensor: ``G + [M, 4]`` boxes in view pixels, ``x1 <= x2`` kept.
    """
    origin, size, out, flip = _params(geom, boxes)
    return _mirror((boxes - origin) * out / size, out, flip)


def view_to_src(boxes: Tensor, geom: ViewGeometry) -> Tensor:
    """Map boxes from view pixels back to source pixels (inverse mapping).

    Args:
        boxes (Tensor): ``G + [M, 4]`` boxes in view pixels.
        geom (ViewGeometry): views with batch shape ``G``.

    Returns:
        Tensor: ``G + [M, 4]`` boxes in source pixels.
    """
    origin, size, out, flip = _params(geom, boxes)
    return _mirror(boxes, out, flip) * size / out + origin


def view_to_view(boxes: Tensor, geom_from: ViewGeometry,
                 geom_to: ViewGeometry) -> Tensor:
    """Map boxes from one view of an image into another view of it.

    Args:
        boxes (Tensor): ``G + [M, 4]`` boxes in pixels of ``geom_from``.
        geom_from (ViewGeometry): source views, batch shape ``G``.
        geom_to (ViewGeometry): target views, batch shape ``G``.

    Returns:
        Tensor: ``G + [M, 4]`` boxes in pixels of ``geom_to`` (unclipped;
        test with :func:`inside_view` on ``view_to_src(boxes, geom_from)``).
    """
    return src_to_view(view_to_src(boxes, geom_from), geom_to)


def clip_to_crop(boxes: Tensor,
                 geom: ViewGeometry,
                 margin: float = 0.0) -> Tuple[Tensor, Tensor]:
    """Clip source boxes to each view's crop rectangle.

    Args:
        boxes (Tensor): ``G + [M, 4]`` boxes in source pixels.
        geom (ViewGeometry): views with batch shape ``G``.
        margin (float): see :func:`intersects_view`; the mask uses it, the
            clipping does not.

    Returns:
        tuple[Tensor, Tensor]: clipped boxes ``G + [M, 4]`` (source pixels;
        empty ones as zero-size boxes) and ``nonempty`` ``G + [M]``
        (strict positive-area intersection: touching the crop border does
        *not* count).
    """
    crop = geom.crop.to(device=boxes.device, dtype=boxes.dtype)[..., None, :]
    clipped, nonempty = intersect_boxes(boxes, crop)
    if margin:
        nonempty = boxes_overlap(boxes, crop, margin)
    return clipped, nonempty


def intersects_view(boxes: Tensor,
                    geom: ViewGeometry,
                    margin: float = 0.0) -> Tensor:
    """Whether source boxes overlap a view with positive area (SoCo).

    Args:
        boxes (Tensor): ``G + [M, 4]`` boxes in source pixels.
        geom (ViewGeometry): views with batch shape ``G``.
        margin (float): source pixels removed from every side of the crop
            first. ``0``: strict positive-area intersection (touching edges
            do not count). ``1``: the released SoCo test on inclusive
            corners (``ix1 < bx2 and bx1 < ix2``).

    Returns:
        Tensor: ``G + [M]`` bool.
    """
    crop = geom.crop.to(device=boxes.device, dtype=boxes.dtype)[..., None, :]
    return boxes_overlap(boxes, crop, margin)


def inside_view(boxes: Tensor,
                geom: ViewGeometry,
                end_inclusive: bool = True) -> Tensor:
    """Whether source boxes lie fully inside a view (CrossCL validity).

    Tested in view pixels on ``src_to_view(boxes)``: ``x1 >= 0``,
    ``y1 >= 0``, ``x2 <= W``, ``y2 <= H``. A box touching the view border
    from inside is inside.

    Args:
        boxes (Tensor): ``G + [M, 4]`` boxes in source pixels.
        geom (ViewGeometry): views with batch shape ``G``.
        end_inclusive (bool): if False the far edges are strict
            (``x2 < W``, ``y2 < H``), reproducing CrossCL's released
            ``x1' < 224`` test.

    Returns:
        Tensor: ``G + [M]`` bool.
    """
    v = src_to_view(boxes, geom)
    out = geom.out_size.to(device=boxes.device, dtype=boxes.dtype)
    out = out[..., None, :]
    far = v[..., 2:] <= out if end_inclusive else v[..., 2:] < out
    return (v[..., :2] >= 0).all(-1) & far.all(-1)


def crop_intersection(geom_a: ViewGeometry,
                      geom_b: ViewGeometry) -> Tuple[Tensor, Tensor]:
    """Overlap of two views' crop rectangles in source pixels.

    Args:
        geom_a (ViewGeometry): views, batch shape ``G``.
        geom_b (ViewGeometry): views, batch shape broadcastable with ``G``.

    Returns:
        tuple[Tensor, Tensor]: ``G + [4]`` rectangles (zero-size where
        empty) and ``G`` strict positive-area mask.
    """
    return intersect_boxes(geom_a.crop, geom_b.crop.to(geom_a.crop))


def overlap_fraction(geom_a: ViewGeometry,
                     geom_b: ViewGeometry,
                     reduce: str = 'min') -> Tensor:
    """Area of the two crops' overlap relative to the crops' areas.

    Args:
        geom_a (ViewGeometry): views, batch shape ``G``.
        geom_b (ViewGeometry): views, batch shape broadcastable with ``G``.
        reduce (str): denominator: ``'min'`` (smaller crop; DUPR's
            constraint), ``'a'``, ``'b'`` or ``'iou'`` (union).

    Returns:
        Tensor: ``G`` fractions in ``[0, 1]``.
    """
    crop_b = geom_b.crop.to(geom_a.crop)
    inter = box_area(intersect_boxes(geom_a.crop, crop_b)[0])
    area_a, area_b = box_area(geom_a.crop), box_area(crop_b)
    denom = {
        'min': lambda: torch.minimum(area_a, area_b),
        'a': lambda: area_a,
        'b': lambda: area_b,
        'iou': lambda: area_a + area_b - inter,
    }
    if reduce not in denom:
        raise ValueError(f'reduce must be one of {list(denom)}, got {reduce}')
    return inter / denom[reduce]()


def feature_grid_to_src(geom: ViewGeometry,
                        feat_hw: Tuple[int, int],
                        stride: Union[float, Tuple[float, float],
                                      None] = None) -> Tensor:
    """Source rectangles covered by the cells of a view's feature map.

    Cell ``k = r * w + c`` (row-major, as ``feat.flatten(-2)``) covers view
    pixels ``[c * sx, (c + 1) * sx) x [r * sy, (r + 1) * sy)``; for a
    flipped view column 0 therefore lies at the *right* edge of the crop.

    Args:
        geom (ViewGeometry): views, batch shape ``G``.
        feat_hw (tuple[int, int]): feature map ``(h, w)``.
        stride (float | tuple, optional): cell size ``s`` or ``(sx, sy)`` in
            view pixels; default ``(W / w, H / h)``. Pass the network stride
            when the map size is rounded up (e.g. 112 px / 32 -> 4 cells).

    Returns:
        Tensor: ``G + [h * w, 4]`` source rectangles, dtype of ``geom``.
    """
    h, w = feat_hw
    if stride is None:
        extent = geom.view_box
    else:
        sx, sy = (stride, stride) if isinstance(stride, (int, float)) \
            else stride
        extent = torch.tensor([0., 0., sx * w, sy * h], dtype=geom.dtype,
                              device=geom.device).expand_as(geom.crop)
    return view_to_src(grid_in_box(extent, (h, w)), geom)


def patch_overlap(geom_a: ViewGeometry,
                  geom_b: ViewGeometry,
                  hw_a: Tuple[int, int],
                  hw_b: Tuple[int, int],
                  mode: str = 'iou',
                  stride_a: Union[float, Tuple[float, float], None] = None,
                  stride_b: Union[float, Tuple[float, float], None] = None
                  ) -> Tensor:
    """Overlap matrix between the feature-map cells of two views.

    Args:
        geom_a (ViewGeometry): first views, batch shape ``G``.
        geom_b (ViewGeometry): second views, batch shape ``G``.
        hw_a (tuple[int, int]): feature map size ``(h_a, w_a)`` of view a.
        hw_b (tuple[int, int]): feature map size ``(h_b, w_b)`` of view b.
        mode (str): ``'iou'`` or ``'ioa'`` (over the area of a's cells).
        stride_a, stride_b (float | tuple, optional): see
            :func:`feature_grid_to_src`.

    Returns:
        Tensor: ``G + [h_a * w_a, h_b * w_b]`` overlaps (row-major ids).
    """
    cells_a = feature_grid_to_src(geom_a, hw_a, stride_a)
    cells_b = feature_grid_to_src(geom_b, hw_b, stride_b)
    return pairwise_overlap(cells_a, cells_b, mode)
