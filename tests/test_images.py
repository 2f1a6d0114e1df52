"""alttext_tools.images: resolving, reading, fetching, decoding and preparing images."""

from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.util
import io
import os
import shutil
import ssl
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from alttext_tools.images import fetch
from alttext_tools.images import reader as reader_module
from alttext_tools.images.decode import load_image
from alttext_tools.images.errors import (
    DisallowedHostError,
    ImageChangedError,
    ImageDecodeError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidDataUriError,
    InvalidSvgError,
    RemoteFetchError,
    RemoteNotAllowedError,
    RemoteTimeoutError,
    RemoteTooLargeError,
    UnsafePathError,
    UnsafeSvgError,
    UnsupportedImageError,
    UnsupportedSchemeError,
)
from alttext_tools.images.fetch import fetch_remote, is_public_address
from alttext_tools.images.reader import ImageBytes, ImageReader
from alttext_tools.images.resize import (
    MOONDREAM,
    ResizePreset,
    fit_size,
    prepare_for_model,
    prepare_with_preset,
    preset_for_handler,
    qwen25vl_preset,
)
from alttext_tools.images.resolve import ImageSource, content_hash, read_image_bytes, resolve_src
from alttext_tools.images.svg import svg_text_alternative

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def two_colour(mode: str = "RGB", size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: orientation and colour checks in one image."""
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return img.convert(mode) if mode != "RGB" else img


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height zeros: tens of KB on disk, 400 MP when decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# --------------------------------------------------------------------------------------------
# load_image: formats
# --------------------------------------------------------------------------------------------

FORMATS = [
    ("PNG", {}),
    ("JPEG", {"quality": 95}),
    ("WEBP", {"lossless": True}),
    ("BMP", {}),
    ("TIFF", {}),
    ("GIF", {}),
]


@pytest.mark.parametrize(("fmt", "kw"), FORMATS, ids=[f for f, _ in FORMATS])
def test_load_each_format(fmt: str, kw: dict[str, object]) -> None:
    img = load_image(encode(two_colour(), fmt, **kw))
    assert img.mode == "RGB"
    assert img.size == (40, 20)
    assert close(img.getpixel((5, 10)), (255, 0, 0), 40)
    assert close(img.getpixel((35, 10)), (0, 0, 255), 40)


def test_load_avif_when_supported() -> None:
    if "AVIF" not in Image.SAVE:
        pytest.skip("this Pillow cannot write AVIF")
    img = load_image(encode(two_colour(), "AVIF", quality=90))
    assert img.size == (40, 20) and img.mode == "RGB"


def test_heic_without_plugin_is_a_clear_error() -> None:
    if importlib.util.find_spec("pillow_heif") is not None:
        pytest.skip("a HEIF plug-in is installed")
    fake = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32
    with pytest.raises(UnsupportedImageError, match="pillow-heif"):
        load_image(fake)


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = load_image(buf.getvalue())
    assert img.size == (16, 16)
    assert close(img.getpixel((8, 8)), (255, 0, 0))


def test_exif_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(two_colour(), "JPEG", quality=95, exif=exif)
    img = load_image(data)
    assert img.size == (20, 40)  # width and height swapped
    # Red was the left half; after a clockwise turn it is the top half.
    assert close(img.getpixel((10, 5)), (255, 0, 0), 40)
    assert close(img.getpixel((10, 35)), (0, 0, 255), 40)


def test_broken_exif_does_not_lose_the_image() -> None:
    data = encode(two_colour(), "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\xff")
    assert load_image(data).size == (40, 20)


# --------------------------------------------------------------------------------------------
# load_image: modes -> RGB
# --------------------------------------------------------------------------------------------


def _rgba_with_transparent_corner() -> Image.Image:
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    img.putpixel((1, 0), (0, 0, 0, 128))  # half-transparent black
    return img


def _palette_with_transparency() -> Image.Image:
    img = Image.new("P", (10, 10), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.info["transparency"] = 0
    return img


MODE_CASES = [
    # (id, image factory, format, pixel, expected RGB)
    ("rgba-transparent-on-white", _rgba_with_transparent_corner, "PNG", (0, 0), (255, 255, 255)),
    ("rgba-half-alpha", _rgba_with_transparent_corner, "PNG", (1, 0), (127, 127, 127)),
    ("rgba-opaque", _rgba_with_transparent_corner, "PNG", (5, 5), (0, 0, 0)),
    ("la-transparent", lambda: Image.new("LA", (8, 8), (0, 0)), "PNG", (3, 3), (255, 255, 255)),
    ("p-transparency", _palette_with_transparency, "PNG", (0, 0), (255, 255, 255)),
    ("p-opaque-colour", _palette_with_transparency, "PNG", (5, 5), (255, 0, 0)),
    ("p-gif-transparency", _palette_with_transparency, "GIF", (0, 0), (255, 255, 255)),
    ("webp-alpha", _rgba_with_transparent_corner, "WEBP", (0, 0), (255, 255, 255)),
    ("cmyk-jpeg-red", lambda: Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", (4, 4), (255, 0, 0)),
    ("cmyk-tiff-black", lambda: Image.new("CMYK", (8, 8), (0, 0, 0, 255)), "TIFF", (4, 4), (0, 0, 0)),
    ("i16-mid-grey", lambda: Image.new("I;16", (8, 8), 32896), "PNG", (4, 4), (128, 128, 128)),
    ("i16-tiff-white", lambda: Image.new("I;16", (8, 8), 65535), "TIFF", (4, 4), (255, 255, 255)),
    ("i32-tiff", lambda: Image.new("I", (8, 8), 65535 // 4), "TIFF", (4, 4), (63, 63, 63)),
    ("grey-l", lambda: Image.new("L", (8, 8), 100), "PNG", (4, 4), (100, 100, 100)),
    ("bilevel-1", lambda: Image.new("1", (8, 8), 1), "PNG", (4, 4), (255, 255, 255)),
    ("float-f-tiff", lambda: Image.linear_gradient("L").convert("F"), "TIFF", (0, 255), (255, 255, 255)),
]


@pytest.mark.parametrize(
    ("factory", "fmt", "xy", "expected"), [c[1:] for c in MODE_CASES], ids=[c[0] for c in MODE_CASES]
)
def test_modes_become_rgb(factory, fmt: str, xy: tuple[int, int], expected: tuple[int, int, int]) -> None:
    img = load_image(encode(factory(), fmt))
    assert img.mode == "RGB"
    assert close(img.getpixel(xy), expected, 3 if fmt in ("PNG", "GIF", "TIFF") else 20), img.getpixel(xy)


# --------------------------------------------------------------------------------------------
# load_image: bad input
# --------------------------------------------------------------------------------------------

_PNG = encode(two_colour(size=(400, 300)), "PNG")
_JPEG = encode(two_colour(size=(400, 300)), "JPEG")

BAD_INPUTS = [
    ("zero-bytes", b"", ImageDecodeError, "empty"),
    ("garbage", b"this is not an image at all, just words" * 10, ImageDecodeError, "not a recognised image"),
    ("random-bytes", bytes(range(256)) * 8, ImageDecodeError, None),
    ("truncated-png", _PNG[: len(_PNG) // 2], ImageDecodeError, "truncated|corrupt"),
    ("truncated-jpeg", _JPEG[: len(_JPEG) // 2], ImageDecodeError, "truncated|corrupt"),
    ("png-header-only", _PNG[:40], ImageDecodeError, None),
    ("pdf", b"%PDF-1.7\n1 0 obj <<>> endobj\n", UnsupportedImageError, "PDF"),
    ("eps-not-allowed", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", ImageDecodeError, None),
    ("svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', UnsupportedImageError, "title.*desc"),
]


@pytest.mark.parametrize(("data", "error", "match"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_clear_error(data: bytes, error: type[ImageError], match: str | None) -> None:
    with pytest.raises(error, match=match) as info:
        load_image(data, src="docs/img/x.png")
    message = str(info.value)
    assert "\n" not in message
    assert "docs/img/x.png" in message


def test_wrong_extension_is_sniffed(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "photo.jpg").write_bytes(encode(two_colour(), "PNG"))
    source = resolve_src("photo.jpg", tmp_path / "docs" / "index.md", tmp_path)
    img = load_image(read_image_bytes(source))
    assert img.size == (40, 20)


def test_decompression_bomb_is_refused_fast() -> None:
    data = png_bomb(20_000, 20_000)
    assert len(data) < 100_000  # tiny file ...
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError):
        load_image(data)  # ... declaring 400 megapixels
    assert time.perf_counter() - start < 1.0


def test_own_pixel_limit_checked_before_decoding() -> None:
    data = png_bomb(3000, 3000)  # 9 MP: under Pillow's own limit
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="3000x3000"):
        load_image(data, max_pixels=1_000_000)
    assert time.perf_counter() - start < 0.5
    assert load_image(png_bomb(300, 200), max_pixels=1_000_000).size == (300, 200)


def test_pillow_bomb_warning_becomes_error() -> None:
    # 10000 x 10000 = 100 MP: over Pillow's 89 MP warning threshold, under its 2x error one.
    with pytest.raises(ImageTooLargeError):
        load_image(png_bomb(10_000, 10_000), max_pixels=500_000_000)


# --------------------------------------------------------------------------------------------
# SVG
# --------------------------------------------------------------------------------------------

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
SVG_CASES = [
    ("title", f"<svg {SVG_NS}><title>Sales by region</title><rect/></svg>", "Sales by region"),
    ("title-whitespace", f"<svg {SVG_NS}>\n  <title>\n  Two\n lines </title></svg>", "Two lines"),
    ("desc-only", f"<svg {SVG_NS}><desc>A red circle</desc></svg>", "A red circle"),
    ("title-before-desc", f"<svg {SVG_NS}><desc>d</desc><title>t</title></svg>", "t"),
    ("empty-title-falls-back", f"<svg {SVG_NS}><title>  </title><desc>d</desc></svg>", "d"),
    ("neither", f"<svg {SVG_NS}><circle r='4'/></svg>", None),
    ("nested-title-ignored", f"<svg {SVG_NS}><g><title>inner</title></g></svg>", None),
    ("no-namespace", "<svg><title>plain</title></svg>", "plain"),
    ("xml-declaration", f'<?xml version="1.0" encoding="UTF-8"?><svg {SVG_NS}><title>x</title></svg>', "x"),
    ("title-with-markup", f"<svg {SVG_NS}><title>a <tspan>b</tspan> c</title></svg>", "a b c"),
    ("char-reference", f"<svg {SVG_NS}><title>caf&#233; &amp; bar</title></svg>", "café & bar"),
]


@pytest.mark.parametrize(("svg", "expected"), [c[1:] for c in SVG_CASES], ids=[c[0] for c in SVG_CASES])
def test_svg_text_alternative(svg: str, expected: str | None) -> None:
    assert svg_text_alternative(svg.encode("utf-8")) == expected


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_svg_external_entity_refused_without_reading(tmp_path: Path, encoding: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN-1234")
    decl = f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
    svg = f'{decl}<!DOCTYPE svg [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><svg {SVG_NS}><title>&xxe;</title></svg>'
    with pytest.raises(UnsafeSvgError) as info:
        svg_text_alternative(svg.encode(encoding))
    assert "TOP-SECRET" not in str(info.value)


UNSAFE_SVGS = [
    (
        "doctype-public",
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
        f"<svg {SVG_NS}/>",
    ),
    (
        "billion-laughs",
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        f"<svg {SVG_NS}><title>&lol2;</title></svg>",
    ),
    ("parameter-entity", f'<!DOCTYPE svg [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><svg {SVG_NS}/>'),
    ("lowercase-doctype", f"<!doctype svg><svg {SVG_NS}/>"),
]


@pytest.mark.parametrize("svg", [c[1] for c in UNSAFE_SVGS], ids=[c[0] for c in UNSAFE_SVGS])
def test_unsafe_svg_refused(svg: str) -> None:
    with pytest.raises(UnsafeSvgError):
        svg_text_alternative(svg.encode("utf-8"))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"<svg><title>unclosed</svg>", "well-formed"),
        (b"<html><title>x</title></html>", "not <svg>"),
        (b"", "well-formed"),
    ],
    ids=["malformed", "not-svg-root", "empty"],
)
def test_invalid_svg(data: bytes, match: str) -> None:
    with pytest.raises(InvalidSvgError, match=match):
        svg_text_alternative(data, src="logo.svg")


NO_TEXT_SVGS = [
    # Neither "title" nor "desc" in the bytes: answered without parsing (the common drawio/logo case).
    ("plain", f'<svg {SVG_NS}><rect width="4" height="4"/></svg>'.encode(), None),
    ("malformed-without-text", b"<svg><rect></svg>", None),  # no text alternative either way
    # Anything that might hold one is parsed: a prefixed title, an attribute named so, UTF-16.
    ("prefixed-title", b'<s:svg xmlns:s="http://www.w3.org/2000/svg"><s:title>Chart</s:title></s:svg>', "Chart"),
    ("title-attribute-only", f'<svg {SVG_NS} data-title="x"><g/></svg>'.encode(), None),
    ("utf16-title", f"<svg {SVG_NS}><title>Logo</title></svg>".encode("utf-16"), "Logo"),
    ("desc-only", f"<svg {SVG_NS}><desc>A map</desc></svg>".encode(), "A map"),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in NO_TEXT_SVGS], ids=[c[0] for c in NO_TEXT_SVGS])
def test_svg_text_alternative_fast_path_agrees_with_the_parser(data: bytes, expected: str | None) -> None:
    assert svg_text_alternative(data) == expected


# --------------------------------------------------------------------------------------------
# resolve_src: local paths
# --------------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """root/docs/guide/page.md, root/docs/img/a.png, root/static/logo.png, /outside/secret.png."""
    root = tmp_path / "root"
    (root / "docs" / "guide").mkdir(parents=True)
    (root / "docs" / "img").mkdir()
    (root / "static").mkdir()
    (root / "docs" / "guide" / "page.md").write_text("# page")
    (root / "docs" / "img" / "a.png").write_bytes(encode(two_colour(), "PNG"))
    (root / "docs" / "img" / "my pic.png").write_bytes(b"x")
    (root / "docs" / "img" / "q?mark.png").write_bytes(b"x")
    (root / "static" / "logo.png").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.png").write_bytes(b"secret")
    return root


LOCAL_OK = [
    # (src, site_root relative to root or None, expected path relative to root)
    ("../img/a.png", None, "docs/img/a.png"),
    ("./../img/a.png", None, "docs/img/a.png"),
    ("../img/a.png?v=3", None, "docs/img/a.png"),
    ("../img/a.png#frag", None, "docs/img/a.png"),
    ("../img/a.png?v=3#frag", None, "docs/img/a.png"),
    ("  ../img/a.png \n", None, "docs/img/a.png"),
    ("../img/my%20pic.png", None, "docs/img/my pic.png"),
    ("../img/q%3Fmark.png", None, "docs/img/q?mark.png"),
    ("..\\img\\a.png", None, "docs/img/a.png"),
    ("../../static/logo.png", None, "static/logo.png"),
    ("/static/logo.png", None, "static/logo.png"),
    ("/img/a.png", "docs", "docs/img/a.png"),
    ("/img/a.png?x=1", "docs", "docs/img/a.png"),
    ("/../static/logo.png", "docs", "static/logo.png"),  # leaves site root, stays in project
]


@pytest.mark.parametrize(("src", "site", "expected"), LOCAL_OK)
def test_resolve_local(project: Path, src: str, site: str | None, expected: str) -> None:
    page = project / "docs" / "guide" / "page.md"
    source = resolve_src(src, page, project, project / site if site else None)
    assert source.kind == "file"
    assert source.path == (project / expected).resolve()
    assert source.src == src


LOCAL_REFUSED = [
    ("../../../outside/secret.png", None, UnsafePathError),
    ("../../../../../../etc/passwd", None, UnsafePathError),
    ("%2e%2e/%2e%2e/%2e%2e/outside/secret.png", None, UnsafePathError),
    ("..%2f..%2f..%2foutside%2fsecret.png", None, UnsafePathError),
    ("%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", None, UnsafePathError),
    ("..\\..\\..\\outside\\secret.png", None, UnsafePathError),
    ("/../outside/secret.png", None, UnsafePathError),
    ("/../../outside/secret.png", "docs", UnsafePathError),
    ("../img/a.png%00.txt", None, UnsafePathError),
    ("/etc/passwd", None, ImageNotFoundError),  # root-relative: <root>/etc/passwd, never /etc
    ("../img/missing.png", None, ImageNotFoundError),
    ("../img", None, ImageNotFoundError),  # a directory
    ("", None, ImageNotFoundError),
    ("#only-a-fragment", None, ImageNotFoundError),
    ("?q=1", None, ImageNotFoundError),
    ("../img/%ff.png", None, ImageNotFoundError),
]


@pytest.mark.parametrize(("src", "site", "error"), LOCAL_REFUSED)
def test_resolve_local_refused(project: Path, src: str, site: str | None, error: type[ImageError]) -> None:
    page = project / "docs" / "guide" / "page.md"
    with pytest.raises(error) as info:
        resolve_src(src, page, project, project / site if site else None)
    assert "\n" not in str(info.value)


def test_absolute_path_resolves_inside_site_root(project: Path) -> None:
    (project / "etc").mkdir()
    (project / "etc" / "passwd").write_bytes(b"not the real one")
    source = resolve_src("/etc/passwd", project / "docs" / "guide" / "page.md", project)
    assert source.path == (project / "etc" / "passwd").resolve()


def test_site_root_outside_project_refused(project: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError):
        resolve_src("/secret.png", project / "docs" / "guide" / "page.md", project, tmp_path / "outside")


def test_symlink_escaping_root_refused(project: Path, tmp_path: Path) -> None:
    (project / "docs" / "img" / "evil.png").symlink_to(tmp_path / "outside" / "secret.png")
    (project / "docs" / "linkdir").symlink_to(tmp_path / "outside", target_is_directory=True)
    page = project / "docs" / "guide" / "page.md"
    with pytest.raises(UnsafePathError):
        resolve_src("../img/evil.png", page, project)
    with pytest.raises(UnsafePathError):
        resolve_src("../linkdir/secret.png", page, project)


def test_symlink_inside_root_allowed(project: Path) -> None:
    (project / "docs" / "img" / "alias.png").symlink_to(project / "docs" / "img" / "a.png")
    source = resolve_src("../img/alias.png", project / "docs" / "guide" / "page.md", project)
    assert source.path == (project / "docs" / "img" / "a.png").resolve()


def test_symlink_loop_refused(project: Path) -> None:
    (project / "docs" / "img" / "loop1.png").symlink_to(project / "docs" / "img" / "loop2.png")
    (project / "docs" / "img" / "loop2.png").symlink_to(project / "docs" / "img" / "loop1.png")
    with pytest.raises(ImageError):
        resolve_src("../img/loop1.png", project / "docs" / "guide" / "page.md", project)


def test_read_image_bytes_refuses_symlink_swapped_in_after_resolve(project: Path, tmp_path: Path) -> None:
    page = project / "docs" / "guide" / "page.md"
    source = resolve_src("../img/a.png", page, project)
    target = project / "docs" / "img" / "a.png"
    target.unlink()
    target.symlink_to(tmp_path / "outside" / "secret.png")
    with pytest.raises(ImageNotFoundError):
        read_image_bytes(source)


def test_read_image_bytes_size_limit(project: Path) -> None:
    source = resolve_src("../img/a.png", project / "docs" / "guide" / "page.md", project)
    assert read_image_bytes(source) == (project / "docs" / "img" / "a.png").read_bytes()
    with pytest.raises(ImageTooLargeError):
        read_image_bytes(source, max_bytes=10)


# --------------------------------------------------------------------------------------------
# ImageReader: src -> bytes -> sha256, once per run
# --------------------------------------------------------------------------------------------


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The srcs whose bytes the reader module reads, in order."""
    reads: list[str] = []
    real = reader_module.read_image_bytes

    def counting(source: ImageSource, **kw: object) -> bytes:
        reads.append(source.src)
        return real(source)

    monkeypatch.setattr(reader_module, "read_image_bytes", counting)
    return reads


def test_reader_reads_a_file_once_however_it_is_referenced(project: Path, counted_reads: list[str]) -> None:
    reader = ImageReader(project, project / "docs")
    page, other = project / "docs" / "guide" / "page.md", project / "docs" / "index.md"
    first = reader.read("../img/a.png", page)
    again = [reader.read("../img/a.png", page), reader.read("img/a.png", other), reader.read("/img/a.png", other)]
    data = (project / "docs" / "img" / "a.png").read_bytes()
    assert first.sha256 == content_hash(data) and first.data == data
    assert {found.sha256 for found in again} == {first.sha256}
    assert [found.data for found in again] == [None, None, None]  # bytes are not kept, only digests
    assert counted_reads == ["../img/a.png"]
    assert reader.data(again[0]) == data  # read again on demand, checked against the digest
    assert counted_reads == ["../img/a.png", "../img/a.png"]


def test_reader_reads_a_changed_file_again(project: Path, counted_reads: list[str]) -> None:
    reader = ImageReader(project)
    page = project / "docs" / "guide" / "page.md"
    target = project / "docs" / "img" / "a.png"
    before = reader.read("../img/a.png", page)
    changed = encode(Image.new("RGB", (5, 5), (1, 2, 3)), "PNG")
    target.write_bytes(changed)
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
    after = reader.read("../img/a.png", page)
    assert after.sha256 == content_hash(changed) != before.sha256 and after.data == changed
    assert len(counted_reads) == 2
    unloaded = ImageBytes(before.source, before.sha256)
    with pytest.raises(ImageChangedError, match="changed while alttext was running"):
        reader.data(unloaded)


def test_reader_remembers_a_failure(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = ImageReader(project)
    page = project / "docs" / "guide" / "page.md"
    resolved: list[str] = []
    real_resolve = reader_module.resolve_src
    monkeypatch.setattr(reader_module, "resolve_src", lambda src, *a: resolved.append(src) or real_resolve(src, *a))
    for _ in range(3):
        with pytest.raises(ImageNotFoundError, match="no such file"):
            reader.read("../img/missing.png", page)
        with pytest.raises(RemoteNotAllowedError):
            reader.read("https://example.com/a.png", page)
    assert resolved == ["../img/missing.png", "https://example.com/a.png"]  # each tried once

    failures: list[ImageError] = []

    def unreadable(source: ImageSource, **kw: object) -> bytes:
        failures.append(ImageNotFoundError("cannot open file (Permission denied)", src=source.src))
        raise failures[-1]

    monkeypatch.setattr(reader_module, "read_image_bytes", unreadable)
    raised = []
    for _ in range(3):
        with pytest.raises(ImageNotFoundError, match="Permission denied") as info:
            reader.read("../img/a.png", page)
        raised.append(info.value)
    assert len(failures) == 1 and all(err is failures[0] for err in raised)  # the same error, one attempt


def test_reader_data_uri_and_digest(tmp_path: Path, counted_reads: list[str]) -> None:
    reader = ImageReader(tmp_path)
    src = f"data:image/png;base64,{_B64}"
    found = [reader.read(src, tmp_path / name) for name in ("a.md", "b/c.md")]
    assert [f.sha256 for f in found] == [content_hash(_TINY_PNG)] * 2
    assert [f.data for f in found] == [_TINY_PNG] * 2  # a data: URI's bytes are in the src itself
    assert len(counted_reads) == 1


# --------------------------------------------------------------------------------------------
# resolve_src: data:, remote and other schemes
# --------------------------------------------------------------------------------------------

_TINY_PNG = encode(Image.new("RGB", (3, 2), (10, 20, 30)), "PNG")
_B64 = base64.b64encode(_TINY_PNG).decode()

DATA_CASES = [
    ("base64", f"data:image/png;base64,{_B64}", _TINY_PNG, "image/png"),
    (
        "base64-wrapped",
        "data:image/png;base64," + "\n".join(_B64[i : i + 20] for i in range(0, len(_B64), 20)),
        _TINY_PNG,
        "image/png",
    ),
    ("base64-unpadded", f"data:image/png;base64,{_B64.rstrip('=')}", _TINY_PNG, "image/png"),
    ("base64-upper", f"DATA:image/png;BASE64,{_B64}", _TINY_PNG, "image/png"),
    ("base64-with-params", f"data:image/png;name=x.png;base64,{_B64}", _TINY_PNG, "image/png"),
    ("percent-encoded", "data:image/svg+xml,%3Csvg%3E%3C%2Fsvg%3E", b"<svg></svg>", "image/svg+xml"),
    (
        "plain-utf8",
        "data:image/svg+xml;charset=utf-8,<svg><title>hi</title></svg>",
        b"<svg><title>hi</title></svg>",
        "image/svg+xml",
    ),
    ("no-media-type", "data:,hello%20world", b"hello world", "text/plain"),
    ("fragment-dropped", f"data:image/png;base64,{_B64}#frag", _TINY_PNG, "image/png"),
]


@pytest.mark.parametrize(("src", "data", "media_type"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_data_uri(tmp_path: Path, src: str, data: bytes, media_type: str) -> None:
    source = resolve_src(src, tmp_path / "page.md", tmp_path)
    assert source.kind == "data"
    assert source.data == data
    assert source.media_type == media_type
    assert read_image_bytes(source) == data


def test_data_uri_loads_as_image(tmp_path: Path) -> None:
    source = resolve_src(f"data:image/png;base64,{_B64}", tmp_path / "page.md", tmp_path)
    assert load_image(read_image_bytes(source)).getpixel((1, 1)) == (10, 20, 30)


@pytest.mark.parametrize(
    "src", ["data:image/png;base64", "data:image/png;base64,@@@not-base64@@@", "data:image/png;base64,abcde"]
)
def test_bad_data_uri(tmp_path: Path, src: str) -> None:
    with pytest.raises(InvalidDataUriError):
        resolve_src(src, tmp_path / "page.md", tmp_path)


REMOTE_CASES = [
    ("https://example.com/a.png", "https://example.com/a.png"),
    ("http://example.com/a.png?x=1#frag", "http://example.com/a.png?x=1"),
    ("//cdn.example.com/a.png", "https://cdn.example.com/a.png"),
    ("HTTPS://Example.com/A.png", "HTTPS://Example.com/A.png"),
]


@pytest.mark.parametrize(("src", "url"), REMOTE_CASES)
def test_remote_refused_by_default(tmp_path: Path, src: str, url: str) -> None:
    with pytest.raises(RemoteNotAllowedError):
        resolve_src(src, tmp_path / "page.md", tmp_path)
    source = resolve_src(src, tmp_path / "page.md", tmp_path, allow_remote=True)
    assert source == ImageSource(kind="remote", src=src, url=url)


@pytest.mark.parametrize(
    "src",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://example.com/a.png",
        "blob:https://x/1",
        "C:\\img\\a.png",
        "mailto:a@b.c",
    ],
)
def test_other_schemes_refused(tmp_path: Path, src: str) -> None:
    with pytest.raises(UnsupportedSchemeError):
        resolve_src(src, tmp_path / "page.md", tmp_path, allow_remote=True)


# --------------------------------------------------------------------------------------------
# fetch_remote
# --------------------------------------------------------------------------------------------

_SERVED_PNG = encode(two_colour(), "PNG")


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/img.png":
            self._send(200, _SERVED_PNG, {"Content-Type": "image/png"})
        elif self.path == "/big-declared":
            self._send(200, b"x" * 300_000)
        elif self.path == "/big-undeclared":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b"y" * 10_000)
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(40):  # bounded: at most ~4 s
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif self.path == "/redirect-local":
            self._send(302, headers={"Location": f"http://127.0.0.1:{port}/img.png"})
        elif self.path == "/redirect-relative":
            self._send(301, headers={"Location": "/img.png"})
        elif self.path == "/redirect-private":
            self._send(302, headers={"Location": "http://10.0.0.1/img.png"})
        elif self.path == "/redirect-metadata":
            self._send(307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif self.path == "/redirect-file":
            self._send(302, headers={"Location": "file:///etc/passwd"})
        elif self.path == "/redirect-loop":
            self._send(302, headers={"Location": "/redirect-loop"})
        else:
            self._send(404, b"nope")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _local_fetch(url: str, **kw: object) -> bytes:
    opts: dict[str, object] = {
        "max_bytes": 100_000,
        "timeout_s": 5.0,
        "https_only": False,
        "_allow_private_for_tests": True,
    }
    opts.update(kw)
    return fetch_remote(url, **opts)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/img.png", "/redirect-local", "/redirect-relative"])
def test_fetch_local_server_with_test_escape_hatch(server: str, path: str) -> None:
    assert _local_fetch(server + path) == _SERVED_PNG


def test_fetch_through_resolve_and_read(server: str, tmp_path: Path) -> None:
    source = resolve_src(server + "/img.png#x", tmp_path / "page.md", tmp_path, allow_remote=True)
    assert source.kind == "remote"
    # read_image_bytes is the production path: it must refuse 127.0.0.1.
    with pytest.raises(DisallowedHostError) as info:
        read_image_bytes(source, https_only=False)
    assert source.src in str(info.value)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/big-declared", RemoteTooLargeError),
        ("/big-undeclared", RemoteTooLargeError),
        ("/missing", RemoteFetchError),
        ("/redirect-private", DisallowedHostError),
        ("/redirect-metadata", DisallowedHostError),
        ("/redirect-file", UnsupportedSchemeError),
        ("/redirect-loop", RemoteFetchError),
    ],
)
def test_fetch_limits_and_redirects(server: str, path: str, error: type[ImageError]) -> None:
    with pytest.raises(error):
        _local_fetch(server + path)


def test_fetch_timeout_is_enforced(server: str) -> None:
    start = time.perf_counter()
    with pytest.raises(RemoteTimeoutError):
        _local_fetch(server + "/slow", timeout_s=0.6)
    assert time.perf_counter() - start < 2.0


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """HTTPS on 127.0.0.1 with a throw-away self-signed certificate for "localhost"."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{httpd.server_address[1]}", cert
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_https_certificate_is_verified(tls_server: tuple[str, Path]) -> None:
    port, _cert = tls_server
    with pytest.raises(RemoteFetchError, match=r"(?i)certificate"):
        fetch_remote(f"https://localhost:{port}/img.png", max_bytes=100_000, timeout_s=5, _allow_private_for_tests=True)


def test_https_pinned_address_keeps_sni_and_hostname_check(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert = tls_server
    original = ssl.create_default_context
    monkeypatch.setattr(fetch.ssl, "create_default_context", lambda: original(cafile=str(cert)))
    # We connect to the vetted IP, but verify the certificate against the URL's host name.
    body = fetch_remote(
        f"https://localhost:{port}/img.png", max_bytes=100_000, timeout_s=5, _allow_private_for_tests=True
    )
    assert body == _SERVED_PNG
    with pytest.raises(RemoteFetchError, match=r"(?i)certificate|hostname|match"):
        fetch_remote(f"https://127.0.0.1:{port}/img.png", max_bytes=100_000, timeout_s=5, _allow_private_for_tests=True)


def test_fetch_https_only_by_default(server: str) -> None:
    with pytest.raises(UnsupportedSchemeError, match="https only"):
        fetch_remote(server + "/img.png", max_bytes=100_000, timeout_s=5, _allow_private_for_tests=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x.png",
        "http://127.0.0.1/x.png",
        "https://127.8.9.10/x.png",
        "https://localhost/x.png",
        "https://2130706433/x.png",  # 127.0.0.1 as one decimal number
        "https://0x7f.1/x.png",
        "https://0.0.0.0/x.png",
        "https://10.0.0.1/x.png",
        "https://172.16.5.4/x.png",
        "https://192.168.1.1/x.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/x.png",
        "https://224.0.0.1/x.png",
        "https://[::1]/x.png",
        "https://[::ffff:127.0.0.1]/x.png",
        "https://[fe80::1]/x.png",
        "https://[fd00::1]/x.png",
    ],
)
def test_production_path_refuses_non_public_hosts(url: str) -> None:
    start = time.perf_counter()
    with pytest.raises(DisallowedHostError):
        fetch_remote(url, max_bytes=1000, timeout_s=5, https_only=False)
    assert time.perf_counter() - start < 2.0  # refused before any connection attempt


@pytest.mark.parametrize("url", ["http://10.0.0.1/x.png", "http://169.254.169.254/", "http://192.168.0.1/"])
def test_escape_hatch_admits_loopback_only(url: str) -> None:
    with pytest.raises(DisallowedHostError):
        fetch_remote(url, max_bytes=1000, timeout_s=5, https_only=False, _allow_private_for_tests=True)


@pytest.mark.parametrize("url", ["https://user:pw@example.com/a.png", "gopher://example.com/", "https:///nohost.png"])
def test_fetch_refuses_odd_urls(url: str) -> None:
    with pytest.raises(ImageError):
        fetch_remote(url, max_bytes=1000, timeout_s=5)


ADDRESSES = [
    ("8.8.8.8", True),
    ("1.1.1.1", True),
    ("2606:4700:4700::1111", True),
    ("127.0.0.1", False),
    ("10.1.2.3", False),
    ("172.16.0.1", False),
    ("192.168.1.1", False),
    ("169.254.169.254", False),
    ("100.64.0.1", False),
    ("224.0.0.1", False),
    ("0.0.0.0", False),
    ("255.255.255.255", False),
    ("240.0.0.1", False),
    ("::1", False),
    ("::", False),
    ("fe80::1%eth0", False),
    ("fc00::1", False),
    ("ff02::1", False),
    ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.1", False),
    ("2002:7f00:1::1", False),
    ("not-an-ip", False),
]


@pytest.mark.parametrize(("address", "public"), ADDRESSES)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


# --------------------------------------------------------------------------------------------
# prepare_for_model, presets, helpers
# --------------------------------------------------------------------------------------------

SIZE_CASES = [
    # (id, input size, preset, expected output size)
    ("moondream-landscape", (1000, 500), MOONDREAM, (378, 189)),
    ("moondream-portrait", (600, 1200), MOONDREAM, (189, 378)),
    ("moondream-small-unchanged", (200, 100), MOONDREAM, (200, 100)),
    ("moondream-exact", (378, 378), MOONDREAM, (378, 378)),
    ("qwen-4x3", (4000, 3000), qwen25vl_preset(1024), (1008, 756)),
    ("qwen-fits-unchanged", (640, 480), qwen25vl_preset(1024), (640, 480)),
    ("qwen-small-budget", (1000, 1000), qwen25vl_preset(64), (224, 224)),
    ("qwen-tall", (300, 6000), qwen25vl_preset(256), (84, 1988)),
]


@pytest.mark.parametrize(("size", "preset", "expected"), [c[1:] for c in SIZE_CASES], ids=[c[0] for c in SIZE_CASES])
def test_prepare_sizes(size: tuple[int, int], preset: ResizePreset, expected: tuple[int, int]) -> None:
    png = prepare_with_preset(Image.new("RGB", size, (1, 2, 3)), preset)
    out = Image.open(io.BytesIO(png))
    assert out.format == "PNG"
    assert out.size == expected
    if preset.max_pixels is not None:
        assert out.width * out.height <= preset.max_pixels
        if out.size != size:
            assert out.width % 28 == 0 and out.height % 28 == 0


def test_qwen_budget_math() -> None:
    preset = qwen25vl_preset(1024)
    assert preset.max_pixels == 1024 * 28 * 28
    assert preset.multiple_of == 28
    with pytest.raises(ValueError):
        qwen25vl_preset(0)


def test_preset_for_handler() -> None:
    assert preset_for_handler("moondream") is MOONDREAM
    assert preset_for_handler("qwen2.5-vl", qwen_token_budget=512).max_pixels == 512 * 784
    assert preset_for_handler("llava").max_side is not None


def test_prepare_flattens_and_keeps_content() -> None:
    img = Image.new("RGBA", (800, 400), (0, 0, 0, 0))
    png = prepare_for_model(img, max_side=400, max_pixels=None)
    out = Image.open(io.BytesIO(png))
    assert out.mode == "RGB" and out.size == (400, 200)
    assert out.getpixel((10, 10)) == (255, 255, 255)


@given(
    w=st.integers(1, 5000),
    h=st.integers(1, 5000),
    max_side=st.one_of(st.none(), st.integers(16, 2000)),
    max_pixels=st.one_of(st.none(), st.integers(1000, 2_000_000)),
    multiple=st.sampled_from([1, 14, 28]),
)
def test_fit_size_properties(w: int, h: int, max_side: int | None, max_pixels: int | None, multiple: int) -> None:
    nw, nh = fit_size(w, h, max_side=max_side, max_pixels=max_pixels, multiple_of=multiple)
    assert 1 <= nw <= w and 1 <= nh <= h  # never upscale
    if max_side is not None and max(w, h) > max_side:
        assert max(nw, nh) <= max_side
    if max_pixels is not None and w * h > max_pixels and max(nw, nh) > multiple:
        assert nw * nh <= max_pixels
    if (nw, nh) == (w, h):
        assert (max_side is None or max(w, h) <= max_side) and (max_pixels is None or w * h <= max_pixels)


def test_content_hash() -> None:
    assert content_hash(_TINY_PNG) == hashlib.sha256(_TINY_PNG).hexdigest()
    assert len(content_hash(b"")) == 64


def test_errors_are_one_line_and_name_the_src(tmp_path: Path) -> None:
    weird = "../../../x\n.png"
    with pytest.raises(ImageError) as info:
        resolve_src(weird, tmp_path / "a" / "page.md", tmp_path)
    assert "\n" not in str(info.value)
    long_src = "data:image/png;base64," + "A" * 10_000 + "!"
    with pytest.raises(InvalidDataUriError) as info2:
        resolve_src(long_src, tmp_path / "page.md", tmp_path)
    assert len(str(info2.value)) < 300
