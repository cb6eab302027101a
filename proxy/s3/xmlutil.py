"""Building and reading S3's XML documents (xml.etree)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET

from proxy.pipeline import SwiftResponse
from proxy.s3.errors import DECLARATION as DECLARATION
from proxy.s3.errors import S3Error
from proxy.s3.request import NS

CONTENT_TYPE = "application/xml"


def response(doc: ET.Element, status: int = 200) -> SwiftResponse:
    """An answer carrying ``doc``."""
    return SwiftResponse.of(status, {"Content-Type": CONTENT_TYPE}, dump(doc))


def encoder(encoding: str | None) -> Callable[[str], str]:
    """How a listing writes keys and prefixes: as they are, or percent-encoded
    (``encoding-type=url``)."""
    if encoding == "url":
        return lambda text: quote(text, safe="/")
    return lambda text: text


def root(tag: str) -> ET.Element:
    return ET.Element(tag, xmlns=NS)


def add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def dump(el: ET.Element) -> bytes:
    """The document; the root's ``xmlns`` is its first attribute, as S3 writes it.

    ElementTree puts the declarations of prefixed namespaces (``xmlns:xsi`` of an
    ACL's grantees) on the root ahead of its own attributes; s3cmd only finds
    S3's namespace when it is the root's first attribute (else it reads no grant)."""
    text = ET.tostring(el, encoding="unicode")
    default = f' xmlns="{NS}"'
    start, sep, rest = text.partition(">")
    first = f"<{el.tag}{default}"
    if default in start and not start.startswith(first):
        start = first + start[len(el.tag) + 1:].replace(default, "", 1)
    return DECLARATION + (start + sep + rest).encode()


def parse(body: bytes) -> ET.Element:
    """A request document, namespaces dropped from the tags; MalformedXML if it is not XML."""
    try:
        doc = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML") from None
    for el in doc.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return doc


def iso_from_swift(value: str) -> str:
    """Swift's listing time (``2024-05-01T12:34:56.123450``) as S3's ``...56.123Z``."""
    if not value:
        return "1970-01-01T00:00:00.000Z"
    return value[:23].ljust(23, "0") + "Z" if "." in value else value[:19] + ".000Z"


def iso_from_http(value: str) -> str:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        when = datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso_from_timestamp(value: str) -> str:
    try:
        t = float(value)
    except ValueError:
        t = 0.0
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))
