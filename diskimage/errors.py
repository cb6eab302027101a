"""Why an image is refused. Domain errors (no HTTP): each API maps them."""

from __future__ import annotations

from collections.abc import Iterable


class ImageRejected(Exception):
    """The image must not become active. ``message`` is safe to show the uploader."""

    def __init__(self, message: str, reasons: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.reasons = tuple(reasons)


class UnknownFormat(ImageRejected):
    """A declared disk_format or container_format that this registry does not know."""


class DiskFormatMismatch(ImageRejected):
    """The bytes are not the declared disk_format (e.g. a qcow2 declared raw)."""


class AmbiguousFormat(ImageRejected):
    """The bytes match several formats, so no format can be trusted."""


class UnsafeImage(ImageRejected):
    """The bytes are the declared format but refer outside themselves or are malformed."""


class ContainerFormatMismatch(ImageRejected):
    """The container_format does not fit the disk_format or the bytes."""
