"""Images as reelgate handles them: a client's reference image, and what kind of image
a file is by its first bytes (the one sniffer: client references at the API, an
upstream's own thumbnails in the worker)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IMAGE_TYPES", "ReferenceImage", "image_type"]

#: the image types reelgate accepts and stores
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


@dataclass(frozen=True)
class ReferenceImage:
    """A client's reference image, measured once when it arrives (the API checks it
    against the requested size) and handed as is to the provider that sends it."""

    data: bytes
    mime: str
    width: int
    height: int


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
