"""OpenStack API microversions: the ``OpenStack-API-Version: <service> X.Y`` header.

The block store (Cinder's ``volume 3.x``) and compute (Nova's ``compute 2.x``, which
also reads the older ``X-OpenStack-Nova-API-Version``) negotiate the same way: no
header is the minimum, ``latest`` the maximum, a version that is not ``X.Y`` (no
leading zeros) is 400, one outside the range served 406. Each API echoes the
version in its answers itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import BadRequest, NotAcceptable

HEADER = "OpenStack-API-Version"
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@dataclass(frozen=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, minor: int) -> bool:
        return self.minor >= minor


def parse(header: str | None, service: str, lo: ApiVersion, hi: ApiVersion,
          legacy: str | None = None) -> ApiVersion:
    """The version ``header`` asks of ``service`` (or, without one, ``legacy``, a bare
    ``X.Y``); ``lo`` when neither asks."""
    wanted = None
    for part in (header or "").split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() == service:
            wanted = words[1]
    if wanted is None and legacy:
        wanted = legacy.strip()
    if wanted is None:
        return lo
    if wanted.lower() == "latest":
        return hi
    match = _VERSION_RE.match(wanted)
    if match is None:
        raise BadRequest(f"API Version String {wanted} is of invalid format. Must be of "
                         "format MajorNum.MinorNum.")
    version = ApiVersion(int(match.group(1)), int(match.group(2)))
    if not lo <= version <= hi:
        raise NotAcceptable(f"Version {version} is not supported by the API. Minimum is "
                            f"{lo} and maximum is {hi}.")
    return version
