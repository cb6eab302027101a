"""common.httpclient: what another service's answer becomes (no server needed)."""

from __future__ import annotations

import pytest

from common import errors
from common.http import map_domain_error
from common.httpclient import RemoteError, remote_error


@pytest.mark.parametrize(("status", "kind"), [
    (400, errors.BadRequest), (401, errors.Unauthorized), (403, errors.Forbidden),
    (404, errors.NotFound), (409, errors.Conflict), (412, errors.PreconditionFailed),
    (413, errors.TooLarge), (422, errors.Unprocessable), (507, errors.InsufficientStorage),
    (405, errors.BadRequest), (416, errors.BadRequest), (418, errors.BadRequest),
    (500, errors.Unavailable), (502, errors.Unavailable), (503, errors.Unavailable),
    (504, errors.Unavailable), (302, errors.Unavailable),
])
def test_an_answer_is_the_error_of_its_status(status: int, kind: type[Exception]) -> None:
    exc = remote_error(status, f"the service answered {status}", '{"error": "x"}')
    assert isinstance(exc, kind) and isinstance(exc, RemoteError)
    assert exc.answered == status and exc.body == '{"error": "x"}'
    assert exc.message == f"the service answered {status}"
    # uncaught, it is answered with its class's status, in the API's own format
    mapped = map_domain_error(exc)
    assert mapped is not None and mapped.status == kind.status  # type: ignore[attr-defined]
