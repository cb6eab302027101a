"""S3 ACLs: not built yet (a stub, answered with NotImplemented)."""

from __future__ import annotations

from proxy.pipeline import SwiftResponse
from proxy.s3.errors import S3Error
from proxy.s3.request import S3Request


async def handle(req: S3Request) -> SwiftResponse:
    raise S3Error("NotImplemented", "ACLs are not implemented yet.")
