"""AWS Signature Version 2 (``Authorization: AWS <access>:<signature>``) for S3."""

from __future__ import annotations

from collections.abc import Iterable

# The query parameters that are part of the signed resource, as S3 lists them.
SUB_RESOURCES = frozenset({
    "accelerate", "acl", "analytics", "cors", "delete", "inventory", "lifecycle", "location",
    "logging", "metrics", "notification", "object-lock", "partNumber", "policy", "replication",
    "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "select", "select-type", "tagging", "torrent", "uploadId",
    "uploads", "versionId", "versioning", "versions", "website",
})


def canonical_resource(raw_path: str, query: Iterable[tuple[str, str]]) -> str:
    subs = sorted((k, v) for k, v in query if k in SUB_RESOURCES)
    if not subs:
        return raw_path
    return raw_path + "?" + "&".join(f"{k}={v}" if v else k for k, v in subs)


def string_to_sign(method: str, headers: Iterable[tuple[str, str]], raw_path: str,
                   query: Iterable[tuple[str, str]], *, expires: str | None = None) -> str:
    """``expires`` replaces the date for a presigned URL."""
    plain: dict[str, str] = {}
    amz: dict[str, list[str]] = {}
    for k, v in headers:
        lk = k.lower()
        if lk.startswith("x-amz-"):
            amz.setdefault(lk, []).append(v.strip())
        elif lk in ("content-md5", "content-type", "date"):
            plain[lk] = v.strip()
    date = expires if expires is not None else (
        "" if "x-amz-date" in amz else plain.get("date", ""))
    lines = [method, plain.get("content-md5", ""), plain.get("content-type", ""), date]
    lines += [f"{k}:{','.join(amz[k])}" for k in sorted(amz)]
    return "\n".join(lines) + "\n" + canonical_resource(raw_path, query)
