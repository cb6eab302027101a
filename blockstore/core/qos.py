"""QoS specs rules (admins): create, keys, associations with volume types, delete.

A QoS spec is a name, a consumer (``front-end``: applied by the hypervisor,
``back-end``: by the storage, or ``both``) and string key/value specs. A
volume type has at most one (its ``qos_specs_id``); a spec still associated
with a type is deleted only with ``force``, which disassociates it first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.core.types import get_type
from blockstore.errors import Conflict, Invalid, NotFound

CONSUMERS = ("front-end", "back-end", "both")


def _specs(value: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, val in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= 255:
            raise Invalid("Invalid input received: QoS spec keys are 1-255 characters.")
        if not isinstance(val, str | int | float) or isinstance(val, bool) \
                or len(str(val)) > 255:
            raise Invalid(f"Invalid input received: the value of QoS spec {key} must be a "
                          "string of at most 255 characters.")
        out[key] = str(val)
    return out


def _consumer(value: Any) -> str:
    if value not in CONSUMERS:
        raise Invalid(f"Invalid input received: consumer must be one of "
                      f"{', '.join(CONSUMERS)} (got {value!r}).")
    return str(value)


def check_new(body: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(name, consumer, specs) of a create request: every key but ``name`` and
    ``consumer`` is a spec."""
    rest = dict(body)
    name = rest.pop("name", None)
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise Invalid("Invalid input received: a QoS spec needs a name of 1-255 characters.")
    consumer = _consumer(rest.pop("consumer", "back-end"))
    return name.strip(), consumer, _specs(rest)


def get(s: Session, qos_id: str) -> m.QosSpecs:
    qos = s.get(m.QosSpecs, qos_id)
    if qos is None:
        raise NotFound(f"QoS Specs {qos_id} could not be found.")
    return qos


def listing(s: Session, sort: list[Any]) -> list[m.QosSpecs]:
    return list(s.scalars(select(m.QosSpecs).order_by(*sort, m.QosSpecs.id)))


def create(s: Session, name: str, consumer: str, specs: dict[str, str]) -> m.QosSpecs:
    if s.scalar(select(m.QosSpecs.id).where(m.QosSpecs.name == name)) is not None:
        raise Conflict(f"QoS Specs {name} already exists.")
    qos = m.QosSpecs(id=m.new_id(), name=name, consumer=consumer, specs=specs)
    s.add(qos)
    s.flush()
    return qos


def set_keys(s: Session, qos_id: str, body: dict[str, Any]) -> None:
    """Set (add or change) specs; ``consumer`` in ``body`` changes the consumer."""
    qos = get(s, qos_id)
    rest = dict(body)
    if "consumer" in rest:
        qos.consumer = _consumer(rest.pop("consumer"))
    rest.pop("name", None)
    if not rest and "consumer" not in body:
        raise Invalid("Invalid input received: no QoS specs to set.")
    qos.specs = {**(qos.specs or {}), **_specs(rest)}


def delete_keys(s: Session, qos_id: str, keys: Any) -> None:
    qos = get(s, qos_id)
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise Invalid("Invalid input received: keys must be a list of spec names.")
    specs = dict(qos.specs or {})
    for key in keys:
        if key not in specs:
            raise NotFound(f"QoS spec {key} is not found in QoS Specs {qos_id}.")
        del specs[key]
    qos.specs = specs


def associations(s: Session, qos_id: str) -> list[dict[str, str]]:
    get(s, qos_id)
    return [{"association_type": "volume_type", "name": vt.name, "id": vt.id}
            for vt in s.scalars(select(m.VolumeType).where(
                m.VolumeType.qos_specs_id == qos_id).order_by(m.VolumeType.name))]


def _type_id(type_id: str | None) -> str:
    if not type_id:
        raise Invalid("Volume Type id must not be None.")
    return type_id


def associate(s: Session, qos_id: str, type_id: str | None) -> None:
    get(s, qos_id)
    vt = get_type(s, _type_id(type_id))
    if vt.qos_specs_id not in (None, qos_id):
        raise Invalid(f"Invalid volume type: Type {vt.id} is already associated with "
                      f"another qos specs: {vt.qos_specs_id}.")
    vt.qos_specs_id = qos_id


def disassociate(s: Session, qos_id: str, type_id: str | None) -> None:
    get(s, qos_id)
    vt = get_type(s, _type_id(type_id))
    if vt.qos_specs_id != qos_id:
        raise NotFound(f"Volume type {vt.id} is not associated with QoS Specs {qos_id}.")
    vt.qos_specs_id = None


def disassociate_all(s: Session, qos_id: str) -> None:
    get(s, qos_id)
    s.execute(update(m.VolumeType).where(m.VolumeType.qos_specs_id == qos_id)
              .values(qos_specs_id=None))


def delete(s: Session, qos_id: str, *, force: bool) -> None:
    qos = get(s, qos_id)
    if associations(s, qos_id):
        if not force:
            raise Invalid("Invalid input received: QoS Specs still in use (associated "
                          "with volume types); delete with force to disassociate them.")
        disassociate_all(s, qos_id)
    s.delete(qos)
