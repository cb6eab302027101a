"""Image members: sharing an image (visibility ``shared``) with other projects.

The owner adds and removes members; a member sees the image at once and
accepts (it is then listed), rejects, or sets its membership back to
pending; nobody else sees a membership.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from imagestore import models as m
from imagestore.core import get_image, iso
from imagestore.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from imagestore.policy import Caller, check_modify, check_write
from imagestore.schemas import MEMBER_STATUSES

MAX_MEMBERS = 128  # Glance's image_member_quota


def view(mb: m.ImageMember) -> dict[str, Any]:
    return {
        "image_id": mb.image_id, "member_id": mb.member, "status": mb.status,
        "created_at": iso(mb.created_at), "updated_at": iso(mb.updated_at),
        "schema": "/v2/schemas/member",
    }


def _shared(img: m.Image) -> None:
    if img.visibility != "shared":
        raise Forbidden(f"Only shared images have members (image {img.id} is "
                        f"{img.visibility}).")


def _find(img: m.Image, member: str) -> m.ImageMember:
    found = next((mb for mb in img.members if mb.member == member), None)
    if found is None:
        raise NotFound(f"{member} is not a member of image {img.id}.")
    return found


def _readable(caller: Caller, img: m.Image, mb: m.ImageMember) -> bool:
    return caller.is_admin or caller.owns(img) or mb.member == caller.project_id


def add(s: Session, caller: Caller, image_id: str, body: Any) -> m.ImageMember:
    img = get_image(s, caller, image_id)
    check_modify(caller, img)
    _shared(img)
    member = body.get("member") if isinstance(body, dict) else None
    if not isinstance(member, str) or not member or len(member) > 255:
        raise Invalid("Request body must be a JSON object with a 'member' (a project id).")
    if any(mb.member == member for mb in img.members):
        raise Conflict(f"{member} is already a member of image {image_id}.")
    if len(img.members) >= MAX_MEMBERS:
        raise TooLarge(f"Image {image_id} already has the most members allowed "
                       f"({MAX_MEMBERS}).")
    now = m.utcnow()
    mb = m.ImageMember(image_id=img.id, member=member, status="pending",
                       created_at=now, updated_at=now)
    img.members.append(mb)
    s.flush()
    return mb


def listing(s: Session, caller: Caller, image_id: str) -> list[m.ImageMember]:
    img = get_image(s, caller, image_id)
    _shared(img)
    return [mb for mb in img.members if _readable(caller, img, mb)]


def show(s: Session, caller: Caller, image_id: str, member: str) -> m.ImageMember:
    img = get_image(s, caller, image_id)
    _shared(img)
    mb = _find(img, member)
    if not _readable(caller, img, mb):
        raise NotFound(f"{member} is not a member of image {image_id}.")
    return mb


def update(s: Session, caller: Caller, image_id: str, member: str,
           body: Any) -> m.ImageMember:
    img = get_image(s, caller, image_id)
    check_write(caller)
    _shared(img)
    mb = _find(img, member)
    if not _readable(caller, img, mb):
        raise NotFound(f"{member} is not a member of image {image_id}.")
    if mb.member != caller.project_id:
        raise Forbidden("Only the member itself may change its membership status.")
    status = body.get("status") if isinstance(body, dict) else None
    if status not in MEMBER_STATUSES:
        raise Invalid(f"Invalid status {status!r}: use one of "
                      f"{', '.join(MEMBER_STATUSES)}.")
    mb.status = status
    mb.updated_at = m.utcnow()
    return mb


def remove(s: Session, caller: Caller, image_id: str, member: str) -> None:
    img = get_image(s, caller, image_id)
    mb_visible = _find(img, member) if img.visibility == "shared" else None
    if mb_visible is not None and not _readable(caller, img, mb_visible):
        raise NotFound(f"{member} is not a member of image {image_id}.")
    check_modify(caller, img)
    _shared(img)
    assert mb_visible is not None
    img.members.remove(mb_visible)
