"""What an uploaded file is, from its bytes (never its name), and an image's dimensions from
its header alone (no decoder needed)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

SNIFF_BYTES = 64 * 1024  # enough for PNG/GIF/WebP headers and the usual JPEG SOF position


@dataclass(frozen=True, slots=True)
class Sniffed:
    mime: str
    kind: str  # image | gif | video | document | audio
    extension: str


def sniff(head: bytes) -> Sniffed | None:
    """The type of a file from its first bytes; None for anything not accepted."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image/png", "image", "png")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image/jpeg", "image", "jpg")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image/gif", "gif", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image/webp", "image", "webp")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"qt  ",):
            return Sniffed("video/quicktime", "video", "mov")
        if brand.startswith(b"M4A"):
            return Sniffed("audio/mp4", "audio", "m4a")
        if brand in (b"avif", b"avis"):
            return Sniffed("image/avif", "image", "avif")
        if brand in (b"heic", b"heix", b"mif1"):
            return Sniffed("image/heic", "image", "heic")
        return Sniffed("video/mp4", "video", "mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video/webm", "video", "webm")
    if head.startswith(b"%PDF-"):
        return Sniffed("application/pdf", "document", "pdf")
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return Sniffed("audio/mpeg", "audio", "mp3")
    return None


def image_size(head: bytes, mime: str) -> tuple[int, int] | None:
    """(width, height) read from the header; None when the header does not say."""
    try:
        if mime == "image/png" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return w, h
        if mime == "image/gif":
            w, h = struct.unpack("<HH", head[6:10])
            return w, h
        if mime == "image/webp":
            return _webp_size(head)
        if mime == "image/jpeg":
            return _jpeg_size(head)
    except struct.error:
        return None
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:
        b = head[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(head[24:27], "little")
        h = 1 + int.from_bytes(head[27:30], "little")
        return w, h
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(head)
    while i + 9 < n:
        if head[i] != 0xFF:
            i += 1
            continue
        marker = head[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if marker in _SOF:
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None
