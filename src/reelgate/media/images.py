"""What kind of image a file is, by its first bytes: the one place images are sniffed
(client references at the API, an upstream's own thumbnails in the worker)."""

from __future__ import annotations

__all__ = ["IMAGE_TYPES", "image_type"]

#: the image types reelgate accepts and stores
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


def image_type(head: bytes) -> str | None:
    """The MIME type of a WEBP, JPEG or PNG by its first 12 bytes; None for anything
    else (never trust a file name or a claimed type)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None
