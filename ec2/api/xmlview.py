"""EC2's XML documents: an action's response, and the error document.

A response is ``<{Action}Response xmlns="http://ec2.amazonaws.com/doc/{version}/">``
with the ``requestId`` first, then the action's members in order: a dict is a
structure, a list a set of ``<item>`` elements, a bool ``true``/``false``, None
left out. Written as text directly (DescribeInstances of a hundred servers is
thousands of elements).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

DEFAULT_VERSION = "2016-11-15"


def namespace(version: str) -> str:
    return f"http://ec2.amazonaws.com/doc/{version}/"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _members(out: list[str], body: Mapping[str, Any]) -> None:
    for name, value in body.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            out.append(f"<{name}>")
            _members(out, value)
            out.append(f"</{name}>")
        elif isinstance(value, list | tuple):
            if not value:
                out.append(f"<{name}/>")
                continue
            out.append(f"<{name}>")
            for item in value:
                if isinstance(item, Mapping):
                    out.append("<item>")
                    _members(out, item)
                    out.append("</item>")
                else:
                    out.append(f"<item>{_value(item)}</item>")
            out.append(f"</{name}>")
        else:
            out.append(f"<{name}>{_value(value)}</{name}>")


def response(action: str, version: str, request_id: str, body: Mapping[str, Any]) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           f'<{action}Response xmlns="{namespace(version)}">',
           f"<requestId>{escape(request_id)}</requestId>"]
    _members(out, body)
    out.append(f"</{action}Response>")
    return "".join(out).encode()


def error(code: str, message: str, request_id: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{escape(request_id)}</RequestID></Response>").encode()
