"""Image domain logic on an ORM session: create, show, update, delete, data states.

Every function takes the :class:`~imagestore.policy.Caller` and raises the
domain errors of :mod:`imagestore.errors`; none knows about HTTP. Handlers
run them in the database's worker thread (``Database.run``).

Status machine (as Glance): ``queued`` --upload--> ``saving`` --> ``active``;
``queued`` --stage--> ``uploading`` --import--> ``importing`` --> ``active``;
``active`` <--> ``deactivated`` (owner or admin); ``killed`` when the store failed
mid-upload (the image must be deleted). An upload the client broke off, or
one refused (too large, over quota, failed inspection) goes back to
``queued`` with its data deleted, so it can be retried.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagestore import models as m
from imagestore.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from imagestore.patch import PatchOp
from imagestore.policy import (
    Caller,
    check_modify,
    check_visibility,
    check_visible,
    check_write,
)
from imagestore.schemas import BASE, IMAGE_PROPERTIES, READ_ONLY, RESERVED_PREFIX

MAX_PROPERTIES = 128  # extra properties per image (Glance's image_property_quota)
MAX_TAGS = 128  # tags per image (Glance's image_tag_quota)
COLUMNS = ("name", "visibility", "protected", "os_hidden", "owner", "disk_format",
           "container_format", "min_disk", "min_ram")


@dataclass(frozen=True)
class Limits:
    """The operator's limits: -1 means none."""

    max_image_size: int
    image_count: int = -1
    image_bytes: int = -1


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def view(img: m.Image, *, show_locations: bool = False) -> dict[str, Any]:
    """The image as the API shows it (Glance's image JSON)."""
    out: dict[str, Any] = {
        "id": img.id, "name": img.name, "status": img.status,
        "visibility": img.visibility, "protected": img.protected,
        "os_hidden": img.os_hidden, "owner": img.owner,
        "disk_format": img.disk_format, "container_format": img.container_format,
        "size": img.size, "virtual_size": img.virtual_size, "checksum": img.checksum,
        "os_hash_algo": img.os_hash_algo, "os_hash_value": img.os_hash_value,
        "min_disk": img.min_disk, "min_ram": img.min_ram,
        "tags": [t.value for t in img.tags],
        "created_at": iso(img.created_at), "updated_at": iso(img.updated_at),
        "self": f"/v2/images/{img.id}", "file": f"/v2/images/{img.id}/file",
        "schema": "/v2/schemas/image",
    }
    if img.store and img.location:
        out["stores"] = img.store
    for prop in img.properties:
        out[prop.name] = prop.value
    if show_locations:
        out["locations"] = ([{"url": img.location, "metadata": {"store": img.store}}]
                            if img.location else [])
        if img.location:
            out["direct_url"] = img.location
    return out


def _schema_check(attr: str, value: Any) -> None:
    schema = IMAGE_PROPERTIES.get(attr, {"type": "string"})
    schema = {k: v for k, v in schema.items() if k not in ("readOnly", "is_base")}
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        raise Invalid(f"Provided object does not match schema 'image': {attr}: "
                      f"{exc.message}") from None
    if attr in ("min_disk", "min_ram") and value < 0:
        raise Invalid(f"Provided object does not match schema 'image': {attr}: "
                      f"{value} is less than the minimum of 0")
    if attr not in IMAGE_PROPERTIES and len(attr) > 255:
        raise Invalid("Property names are at most 255 characters.")


def get_image(s: Session, caller: Caller, image_id: str) -> m.Image:
    return check_visible(caller, s.get(m.Image, image_id), image_id)


def count_images(s: Session, owner: str) -> int:
    return int(s.scalar(select(func.count()).select_from(m.Image)
                        .where(m.Image.owner == owner)) or 0)


def used_bytes(s: Session, owner: str) -> int:
    """Bytes of data (stored and staged) the project's images hold."""
    stored = s.scalar(select(func.coalesce(func.sum(m.Image.size), 0))
                      .where(m.Image.owner == owner, m.Image.location.is_not(None)))
    staged = s.scalar(select(func.coalesce(func.sum(m.Image.staged_size), 0))
                      .where(m.Image.owner == owner))
    return int(stored or 0) + int(staged or 0)


def staging_usage(s: Session, owner: str) -> tuple[int, int]:
    """(bytes staged, images receiving data) of a project, for ``/v2/info/usage``."""
    staged = s.scalar(select(func.coalesce(func.sum(m.Image.staged_size), 0))
                      .where(m.Image.owner == owner))
    busy = s.scalar(select(func.count()).select_from(m.Image).where(
        m.Image.owner == owner, m.Image.status.in_(("saving", "uploading", "importing"))))
    return int(staged or 0), int(busy or 0)


def create_image(s: Session, caller: Caller, body: Any, limits: Limits) -> m.Image:
    check_write(caller)
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object.")
    for key in body:
        if key in READ_ONLY - {"id"}:
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key.startswith(RESERVED_PREFIX):
            raise Forbidden(f"Attribute '{key}' is reserved.")
    for key, value in body.items():
        _schema_check(key, value)
    image_id = body.get("id") or str(uuid.uuid4())
    if s.get(m.Image, image_id) is not None:
        raise Conflict(f"Image with identifier {image_id} already exists!")
    owner = body.get("owner") or caller.project_id
    if owner != caller.project_id and not caller.is_admin:
        raise Forbidden("You are not permitted to create images owned by another project.")
    visibility = body.get("visibility", "shared")
    check_visibility(caller, visibility)
    if owner and limits.image_count >= 0 and count_images(s, owner) >= limits.image_count:
        raise TooLarge(f"Image count quota exceeded: project {owner} may own at most "
                       f"{limits.image_count} images.")
    extra = {k: v for k, v in body.items() if k not in BASE}
    if len(extra) > MAX_PROPERTIES:
        raise TooLarge(f"Attempted to add {len(extra)} properties; at most "
                       f"{MAX_PROPERTIES} are allowed.")
    tags = list(dict.fromkeys(body.get("tags", [])))
    if len(tags) > MAX_TAGS:
        raise TooLarge(f"Attempted to add {len(tags)} tags; at most {MAX_TAGS} are allowed.")
    now = m.utcnow()
    img = m.Image(
        id=image_id, name=body.get("name"), status="queued", visibility=visibility,
        protected=bool(body.get("protected", False)),
        os_hidden=bool(body.get("os_hidden", False)), owner=owner,
        disk_format=body.get("disk_format"), container_format=body.get("container_format"),
        min_disk=int(body.get("min_disk", 0)), min_ram=int(body.get("min_ram", 0)),
        staged_size=0, created_at=now, updated_at=now,
        tags=[m.ImageTag(value=t) for t in tags],
        properties=[m.ImageProperty(name=k, value=v) for k, v in extra.items()],
        members=[])
    s.add(img)
    s.flush()
    return img


def _set_column(caller: Caller, img: m.Image, attr: str, value: Any) -> None:
    if attr == "visibility":
        check_visibility(caller, value)
    elif attr == "owner" and value != img.owner and not caller.is_admin:
        raise Forbidden("Only admins may change an image's owner.")
    elif attr in ("disk_format", "container_format") and img.status != "queued" \
            and value != getattr(img, attr):
        raise Forbidden(f"Attribute {attr} can be only replaced for a queued image.")
    elif attr in ("protected", "os_hidden"):
        value = bool(value)
    setattr(img, attr, value)


def apply_patch(s: Session, caller: Caller, image_id: str, ops: list[PatchOp]) -> m.Image:
    """Apply parsed patch operations in order; all or nothing (one transaction)."""
    img = get_image(s, caller, image_id)
    check_modify(caller, img)
    props = {p.name: p for p in img.properties}
    for op in ops:
        if op.op != "remove":
            _schema_check(op.attr, op.value)
        if op.add_is_new and (op.attr in COLUMNS or op.attr == "tags" or op.attr in props):
            raise Conflict(f"Property {op.attr} already present.")
        if op.attr == "tags":
            if op.op == "remove":
                raise Forbidden("Property tags may not be removed.")
            tags = list(dict.fromkeys(op.value))
            if len(tags) > MAX_TAGS:
                raise TooLarge(f"Attempted to add {len(tags)} tags; at most {MAX_TAGS} "
                               "are allowed.")
            img.tags = [m.ImageTag(value=t) for t in tags]
        elif op.attr in COLUMNS:
            if op.op == "remove":
                raise Forbidden(f"Property {op.attr} may not be removed.")
            _set_column(caller, img, op.attr, op.value)
        elif op.op == "remove":
            if op.attr not in props:
                raise Conflict(f"Property {op.attr} does not exist.")
            img.properties.remove(props.pop(op.attr))
        elif op.op == "replace" and op.attr not in props:
            raise Conflict(f"Property {op.attr} does not exist.")
        elif op.attr in props:
            props[op.attr].value = op.value
        else:
            if len(props) >= MAX_PROPERTIES:
                raise TooLarge(f"Attempted to add more than {MAX_PROPERTIES} properties.")
            prop = m.ImageProperty(name=op.attr, value=op.value)
            img.properties.append(prop)
            props[op.attr] = prop
    img.updated_at = m.utcnow()
    s.flush()
    return img


@dataclass(frozen=True)
class DataRef:
    """Data to delete from a store (or the staging area) once the transaction is over."""

    image_id: str
    store: str | None
    location: str | None
    staged: bool


def delete_image(s: Session, caller: Caller, image_id: str) -> DataRef:
    img = get_image(s, caller, image_id)
    check_modify(caller, img)
    if img.protected:
        raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
    ref = DataRef(img.id, img.store, img.location, img.staged_size > 0
                  or img.status in ("uploading", "importing"))
    s.delete(img)
    return ref


def add_tag(s: Session, caller: Caller, image_id: str, tag: str) -> None:
    img = get_image(s, caller, image_id)
    check_modify(caller, img)
    _schema_check("tags", [tag])
    if any(t.value == tag for t in img.tags):
        return
    if len(img.tags) >= MAX_TAGS:
        raise TooLarge(f"Maximum number of tags ({MAX_TAGS}) reached.")
    img.tags.append(m.ImageTag(value=tag))
    img.updated_at = m.utcnow()


def delete_tag(s: Session, caller: Caller, image_id: str, tag: str) -> None:
    img = get_image(s, caller, image_id)
    check_modify(caller, img)
    found = next((t for t in img.tags if t.value == tag), None)
    if found is None:
        raise NotFound(f"Tag {tag} not found on image {image_id}.")
    img.tags.remove(found)
    img.updated_at = m.utcnow()


def set_active(s: Session, caller: Caller, image_id: str, active: bool) -> None:
    """Deactivate (``active`` False) or reactivate an image: its owner's members or
    an admin (Glance's default policy); only between ``active`` and ``deactivated``
    (400 otherwise, as Glance answers)."""
    img = get_image(s, caller, image_id)
    check_modify(caller, img)
    want, source = ("active", "deactivated") if active else ("deactivated", "active")
    if img.status == want:
        return
    if img.status != source:
        verb = "reactivate" if active else "deactivate"
        raise Invalid(f"Not allowed to {verb} an image in status '{img.status}'.")
    img.status = want
    img.updated_at = m.utcnow()


# -- data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """An upload the database has agreed to: the image is now in ``status``."""

    image_id: str
    owner: str
    disk_format: str
    container_format: str
    status: str
    limit: int  # most bytes this upload may bring (size limit and quota)
    quota_limited: bool  # whether ``limit`` comes from the project's quota


def begin_data(s: Session, caller: Caller, image_id: str, source: str, target: str,
               limits: Limits) -> Upload:
    """Move the image from ``source`` to ``target`` (e.g. queued -> saving) for an upload."""
    img = get_image(s, caller, image_id)
    check_modify(caller, img)
    if img.status != source:
        raise Conflict(f"Image status transition from {img.status} to {target} is not "
                       "allowed")
    if not img.disk_format or not img.container_format:
        raise Invalid("Properties disk_format, container_format must be set prior to "
                      "saving data.")
    limit, by_quota = limits.max_image_size, False
    owner = img.owner or ""
    if limits.image_bytes >= 0:
        # bytes this image already has staged move into the store: not counted twice
        left = max(0, limits.image_bytes - used_bytes(s, owner) + img.staged_size)
        if left < limit:
            limit, by_quota = left, True
    img.status = target
    img.updated_at = m.utcnow()
    return Upload(img.id, owner, img.disk_format, img.container_format, target, limit,
                  by_quota)


def end_data(s: Session, image_id: str, expected: str, status: str,
             **fields: Any) -> bool:
    """Set the image to ``status`` (with ``fields``) if it is still in ``expected``.

    False when the image was deleted (or changed state) meanwhile: the caller
    then removes the data it wrote.
    """
    img = s.get(m.Image, image_id)
    if img is None or img.status != expected:
        return False
    img.status = status
    for key, value in fields.items():
        setattr(img, key, value)
    img.updated_at = m.utcnow()
    return True



def import_failed(s: Session, image_id: str, store_id: str) -> None:
    """An import that failed: back to ``queued``, staging forgotten, the store recorded."""
    img = s.get(m.Image, image_id)
    if img is None or img.status not in ("importing", "uploading"):
        return
    img.status = "queued"
    img.staged_size = 0
    img.updated_at = m.utcnow()
    for prop in img.properties:
        if prop.name == "os_glance_failed_import":
            prop.value = store_id
            return
    img.properties.append(m.ImageProperty(name="os_glance_failed_import", value=store_id))


def discard_failed_import(s: Session, image_id: str) -> None:
    """An import that made its own image (the ``import`` task) failed: the image goes."""
    img = s.get(m.Image, image_id)
    if img is not None and img.status in ("importing", "uploading", "queued"):
        s.delete(img)


def image_formats(s: Session, image_id: str) -> tuple[str | None, str | None]:
    img = s.get(m.Image, image_id)
    if img is None:
        raise NotFound(f"No image found with ID {image_id}")
    return img.disk_format, img.container_format


def set_staged(s: Session, image_id: str, size: int) -> bool:
    """Staging done: the image stays ``uploading`` with ``size`` bytes staged."""
    img = s.get(m.Image, image_id)
    if img is None or img.status != "uploading":
        return False
    img.staged_size = size
    img.updated_at = m.utcnow()
    return True


def finish_import(s: Session, image_id: str, **fields: Any) -> bool:
    """An import stored its data: ``importing`` -> ``active``."""
    if not end_data(s, image_id, "importing", "active", staged_size=0, **fields):
        return False
    img = s.get(m.Image, image_id)
    assert img is not None
    img.properties = [p for p in img.properties if p.name != "os_glance_failed_import"]
    return True
