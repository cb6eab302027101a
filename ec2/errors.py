"""The EC2 front's domain errors: ``common.errors`` classes carrying EC2's codes.

No HTTP here. Each class is the ``common.errors`` class of the kind of failure
(a bad parameter is a :class:`~common.errors.BadRequest`, an unknown id a
:class:`~common.errors.NotFound`, ...) and carries the EC2 ``code`` the client
reads (``InvalidVolume.NotFound``, ``MissingParameter``, ...). The API renders
them in EC2's error document (``ec2.api.base``); it also names errors that carry
no code (those of shared code and of the native services' clients) by their
status.
"""

from __future__ import annotations

import json
from typing import ClassVar

from common.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    StrataError,
    TooLarge,
    Unauthorized,
)
from common.httpclient import RemoteError


class _Coded(StrataError):
    """A ``code`` fixed by the class, or given per error (``Invalid<Kind>.NotFound``);
    the status is that of the ``common.errors`` class beside it."""

    default_code: ClassVar[str] = ""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class InvalidParameterValue(_Coded, BadRequest):
    """A parameter's value is not one the action takes."""

    default_code = "InvalidParameterValue"


class UnsupportedOperation(_Coded, BadRequest):
    """A valid request for what this cloud cannot do (EC2 answers these with 400)."""

    default_code = "UnsupportedOperation"


class MissingParameter(_Coded, BadRequest):
    """A parameter the action needs was not given."""

    default_code = "MissingParameter"


class InvalidParameterCombination(_Coded, BadRequest):
    """Parameters that may not be given together (or one needs another)."""

    default_code = "InvalidParameterCombination"


class InvalidAction(_Coded, BadRequest):
    """The action is not one of the API's, or not one this cloud has."""

    default_code = "InvalidAction"


class MalformedId(_Coded, BadRequest):
    """An id that is not of the form its kind has (``InvalidVolumeID.Malformed``...)."""

    default_code = "InvalidID"


class RequestExpired(_Coded, BadRequest):
    """The request's time is too far from ours, or its ``Expires`` has passed."""

    default_code = "RequestExpired"


class AuthFailure(_Coded, Unauthorized):
    """No signature, an unknown access key, or a signature that does not match."""

    default_code = "AuthFailure"


class UnauthorizedOperation(_Coded, Forbidden):
    """The caller may not do this (the native service's policy said no)."""

    default_code = "UnauthorizedOperation"


class DryRunOperation(_Coded, PreconditionFailed):
    """``DryRun``: the request would have succeeded (EC2 answers it as an error)."""

    default_code = "DryRunOperation"


class ResourceNotFound(_Coded, NotFound):
    """No such resource, or not one the caller may see (``Invalid<Kind>.NotFound``)."""

    default_code = "InvalidID"


class IncorrectState(_Coded, Conflict):
    """The resource's state does not allow this now (``VolumeInUse``,
    ``DependencyViolation``, ``InvalidIPAddress.InUse``, ...)."""

    default_code = "IncorrectState"


class Duplicate(_Coded, Conflict):
    """A resource of that name or rule already exists (``InvalidGroup.Duplicate``...)."""

    default_code = "InvalidParameterValue"


class LimitExceeded(_Coded, TooLarge):
    """A quota or a limit of the API (``TagLimitExceeded``, ``VolumeLimitExceeded``)."""

    default_code = "ResourceLimitExceeded"


def code_of(exc: BaseException) -> str | None:
    """The EC2 code an error carries, if it is one of these."""
    code = getattr(exc, "code", None)
    return code if isinstance(exc, _Coded) and isinstance(code, str) else None


def native_message(exc: StrataError) -> str:
    """What a native service said: the ``message`` of its JSON error body (Cinder's
    ``{"badRequest": {"message"}}``, Glance's ``{"error": {"message"}}``, Neutron's
    ``{"NeutronError": {"message"}}``...) for an error its client raised, else the
    error's own message."""
    if isinstance(exc, RemoteError) and exc.body:
        try:
            doc = json.loads(exc.body)
        except ValueError:
            return exc.message
        for node in (doc, *(doc.values() if isinstance(doc, dict) else ())):
            if isinstance(node, dict) and isinstance(node.get("message"), str):
                return str(node["message"]).strip()
    return exc.message
