# Copyright (c) mmalfm contributors. All rights reserved.
"""LoadImageWithCheck on odd and broken image files (tiny, hand-made)."""
import io

import cv2
import numpy as np
import pytest
from mmengine.dataset import BaseDataset
from PIL import Image

from mmalfm.datasets.transforms import CorruptImageError, LoadImageWithCheck
from mmalfm.datasets.transforms import loading
from mmalfm.datasets.transforms.loading import to_uint8_bgr


@pytest.fixture(autouse=True)
def _reset_counter():
    LoadImageWithCheck.reset_skip_counter()
    yield
    LoadImageWithCheck.reset_skip_counter()


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _pil_bytes(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _load(path, **kwargs):
    return LoadImageWithCheck(**kwargs)(dict(img_path=path))


def test_png_exact_bgr_and_rgb(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (10, 20, 30)
    path = _write(tmp_path / 'a.png', _pil_bytes(Image.fromarray(rgb), 'PNG'))
    out = _load(path)
    assert out['img'].dtype == np.uint8 and out['img'].shape == (2, 3, 3)
    assert out['img'][0, 0].tolist() == [30, 20, 10]  # BGR like mmcv
    assert out['img_shape'] == out['ori_shape'] == (2, 3)
    assert _load(path, to_rgb=True)['img'][0, 0].tolist() == [10, 20, 30]


def test_jpeg(tmp_path):
    img = Image.new('RGB', (5, 4), (200, 100, 50))
    path = _write(tmp_path / 'a.jpg', _pil_bytes(img, 'JPEG', quality=100))
    out = _load(path)
    assert out['img'].shape == (4, 5, 3) and out['img'].dtype == np.uint8
    assert np.abs(out['img'][0, 0].astype(int) - [50, 100, 200]).max() <= 2


def test_grayscale_png_becomes_3_channels(tmp_path):
    path = _write(tmp_path / 'g.png',
                  _pil_bytes(Image.new('L', (3, 2), 77), 'PNG'))
    img = _load(path)['img']
    assert img.shape == (2, 3, 3) and (img == 77).all()


def test_rgba_png_drop_or_composite(tmp_path):
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (200, 100, 40, 255)  # opaque
    rgba[0, 1] = (200, 100, 40, 51)  # 20 % alpha
    path = _write(tmp_path / 'a.png', _pil_bytes(Image.fromarray(rgba),
                                                 'PNG'))
    dropped = _load(path)['img']
    assert dropped.shape == (1, 2, 3)
    assert dropped[0, 1].tolist() == [40, 100, 200]
    black = _load(path, alpha='black')['img']
    assert black[0, 0].tolist() == [40, 100, 200]
    assert black[0, 1].tolist() == [8, 20, 40]  # x * 51 / 255


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 257, 65535]], np.uint16)
    ok, enc = cv2.imencode('.png', arr)
    path = _write(tmp_path / 'd.png', enc.tobytes())
    img = _load(path)['img']
    assert img.dtype == np.uint8 and img.shape == (1, 3, 3)
    assert img[0, :, 0].tolist() == [0, 1, 255]


def test_cmyk_jpeg(tmp_path):
    img = Image.new('CMYK', (4, 3), (0, 255, 255, 0))  # pure red
    path = _write(tmp_path / 'c.jpg', _pil_bytes(img, 'JPEG', quality=100))
    out = _load(path)['img']
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    b, g, r = out[1, 1].astype(int)
    assert r >= 250 and g <= 5 and b <= 5


@pytest.mark.parametrize('name,data,reason', [
    ('empty.jpg', b'', 'empty'),
    ('noise.jpg', bytes(range(256)) * 4, 'cannot decode'),
])
def test_broken_files_raise_with_path(tmp_path, name, data, reason):
    path = _write(tmp_path / name, data)
    with pytest.raises(CorruptImageError) as err:
        _load(path, skip_corrupt=False)
    assert path in str(err.value) and reason in str(err.value)
    assert 'skip_corrupt=True' in str(err.value)  # the fix is named


def _truncated_jpeg() -> bytes:
    noise = np.random.RandomState(0).randint(0, 255, (64, 64, 3), np.uint8)
    data = _pil_bytes(Image.fromarray(noise), 'JPEG')
    return data[:len(data) // 2]


def test_truncated_jpeg_and_png(tmp_path):
    # OpenCV alone decodes the half JPEG (grey fill) without an error
    half = _truncated_jpeg()
    assert cv2.imdecode(np.frombuffer(half, np.uint8), 1) is not None
    jpg = _write(tmp_path / 't.jpg', half)
    with pytest.raises(CorruptImageError, match='truncated JPEG') as err:
        _load(jpg, skip_corrupt=False)
    assert jpg in str(err.value)
    png = _pil_bytes(Image.new('RGB', (8, 8)), 'PNG')
    png_path = _write(tmp_path / 't.png', png[:-12])  # IEND chunk cut
    with pytest.raises(CorruptImageError, match='truncated PNG'):
        _load(png_path, skip_corrupt=False)


def test_skip_returns_none_warns_once_and_counts(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(loading, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    path = _write(tmp_path / 't.jpg', _truncated_jpeg())
    t = LoadImageWithCheck()  # skip_corrupt=True by default
    assert t(dict(img_path=path)) is None
    assert t(dict(img_path=path)) is None
    assert len(logged) == 1 and path in logged[0]  # one warning per file
    assert LoadImageWithCheck.skipped_count() == 2
    assert LoadImageWithCheck.skipped_files == {path}


def test_skip_count_is_shared_with_forked_workers(tmp_path):
    """Skips in forked dataloader workers reach the main process."""
    import multiprocessing as mp
    path = _write(tmp_path / 't.jpg', _truncated_jpeg())

    def load_twice():
        t = LoadImageWithCheck()
        t(dict(img_path=path))
        t(dict(img_path=path))

    LoadImageWithCheck.reset_skip_counter()
    procs = [mp.get_context('fork').Process(target=load_twice)
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert LoadImageWithCheck.skipped_count() == 4


def test_missing_file_always_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        _load(str(tmp_path / 'nope.jpg'))


class _TwoImages(BaseDataset):

    def __init__(self, paths, **kwargs):
        self.paths = paths
        super().__init__(**kwargs)

    def load_data_list(self):
        return [dict(img_path=p) for p in self.paths]


def test_base_dataset_refetches_after_skip(tmp_path):
    bad = _write(tmp_path / 'bad.jpg', b'')
    good = _write(tmp_path / 'good.png',
                  _pil_bytes(Image.new('RGB', (2, 2)), 'PNG'))
    ds = _TwoImages([bad, good], pipeline=[LoadImageWithCheck()],
                    serialize_data=False)
    assert ds[0]['img_path'] == good  # None -> another index is fetched


def test_to_uint8_bgr_gray_alpha():
    ga = np.array([[[100, 0], [100, 255]]], np.uint8)  # gray + alpha
    assert to_uint8_bgr(ga).tolist() == [[[100] * 3, [100] * 3]]
    assert to_uint8_bgr(ga, 'black').tolist() == [[[0] * 3, [100] * 3]]


def test_exif_orientation_is_ignored(tmp_path):
    # as PIL/torchvision and the selective-search tool: proposals computed
    # on the stored pixel grid stay aligned (mmcv's 'color' flag rotates)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img = Image.new('RGB', (8, 4), (10, 20, 30))
    path = _write(tmp_path / 'r.jpg', _pil_bytes(img, 'JPEG',
                                                 exif=exif.tobytes()))
    assert _load(path)['img'].shape == (4, 8, 3)
