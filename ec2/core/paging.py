"""``MaxResults`` and ``NextToken``: pages of a Describe answer.

Items are ordered by their EC2 id; a page ends after ``MaxResults`` items and
its token names the last one, so the next page starts after it whatever was made
or deleted meanwhile. The token is opaque to clients (base64 of the id).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ec2.errors import InvalidParameterCombination, InvalidParameterValue
from ec2.params import Params

T = TypeVar("T")
PREFIX = "ec2p1:"


@dataclass(frozen=True)
class Paging:
    max_results: int | None
    after: str | None  # the EC2 id the page starts after


def parse(params: Params, *, low: int = 5, high: int = 1000,
          ids_param: str | None = None) -> Paging:
    """The request's paging; InvalidParameterValue for a MaxResults out of
    ``low``..``high`` or a token that is not ours; with ``ids_param``,
    InvalidParameterCombination when both it and MaxResults are given (as EC2)."""
    max_results = params.integer("MaxResults", low=low, high=high)
    if max_results is not None and ids_param and params.strings(ids_param):
        raise InvalidParameterCombination(f"The parameter {ids_param} cannot be used with "
                                          "the parameter maxResults")
    token = params.text("NextToken", max_len=1024)
    after = None
    if token:
        try:
            raw = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raw = ""
        if not raw.startswith(PREFIX):
            raise InvalidParameterValue(f"The token '{token[:100]}' is not valid")
        after = raw[len(PREFIX):]
    return Paging(max_results, after)


def page(items: Sequence[T], key: Callable[[T], str],
         paging: Paging) -> tuple[list[T], str | None]:
    """The page of ``items`` (sorted here by ``key``) and the next page's token."""
    ordered = sorted(items, key=key)
    if paging.after is not None:
        after = paging.after
        ordered = [i for i in ordered if key(i) > after]
    if paging.max_results is None or len(ordered) <= paging.max_results:
        return ordered, None
    chunk = ordered[:paging.max_results]
    token = base64.urlsafe_b64encode((PREFIX + key(chunk[-1])).encode()).decode()
    return chunk, token
