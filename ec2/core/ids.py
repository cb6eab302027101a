"""EC2 ids: ``vol-0123456789abcdef0`` for a volume's UUID, kept in ``ec2_ids``.

Each kind of resource has its prefixes (images have three: ``ami-`` machine,
``aki-`` kernel, ``ari-`` ramdisk images, chosen when the id is given) and the
codes EC2 answers for an id of it that is malformed or names nothing. An id is
given the first time a resource is seen, whether it was made through EC2 or
natively, and is kept: it never changes and never moves to another resource.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ec2 import models as m
from ec2.errors import MalformedId, ResourceNotFound

HEX_DIGITS = 17  # as AWS's long ids; ids of 8 are accepted as well-formed
CHUNK = 500  # uuids per IN (...) query
RETIRED = "#retired:"


@dataclass(frozen=True)
class Kind:
    """One kind of EC2 resource."""

    name: str  # the ``kind`` column
    prefixes: tuple[str, ...]
    resource_type: str  # as DescribeTags names it
    noun: str  # how messages name its ids
    not_found: str  # EC2's code for an unknown id
    malformed: str  # ... and for an id not of the kind's form

    def missing(self, ident: str) -> ResourceNotFound:
        return ResourceNotFound(f"The {self.noun} '{ident}' does not exist", self.not_found)

    def well_formed(self, ident: str) -> bool:
        return _FORM.fullmatch(ident) is not None and ident.split("-", 1)[0] in self.prefixes

    def check(self, ident: str) -> str:
        """``ident`` when it is of this kind's form, else EC2's Malformed error."""
        if not self.well_formed(ident):
            raise MalformedId(f"Invalid id: \"{ident[:100]}\" (expecting "
                              f"\"{self.prefixes[0]}-...\")", self.malformed)
        return ident


_FORM = re.compile(r"[a-z]{1,8}-([0-9a-f]{8}|[0-9a-f]{17})", re.ASCII)

IMAGE = Kind("image", ("ami", "aki", "ari"), "image", "image id", "InvalidAMIID.NotFound",
             "InvalidAMIID.Malformed")
INSTANCE = Kind("instance", ("i",), "instance", "instance ID", "InvalidInstanceID.NotFound",
                "InvalidInstanceID.Malformed")
VOLUME = Kind("volume", ("vol",), "volume", "volume", "InvalidVolume.NotFound",
              "InvalidVolumeID.Malformed")
SNAPSHOT = Kind("snapshot", ("snap",), "snapshot", "snapshot", "InvalidSnapshot.NotFound",
                "InvalidSnapshotID.Malformed")
SECURITY_GROUP = Kind("security_group", ("sg",), "security-group", "security group",
                      "InvalidGroup.NotFound", "InvalidGroupId.Malformed")
ADDRESS = Kind("address", ("eipalloc",), "elastic-ip", "allocation ID",
               "InvalidAllocationID.NotFound", "InvalidAllocationID.NotFound")
ASSOCIATION = Kind("association", ("eipassoc",), "elastic-ip-association", "association ID",
                   "InvalidAssociationID.NotFound", "InvalidAssociationID.NotFound")
VPC = Kind("vpc", ("vpc",), "vpc", "vpc ID", "InvalidVpcID.NotFound", "InvalidVpcID.Malformed")
SUBNET = Kind("subnet", ("subnet",), "subnet", "subnet ID", "InvalidSubnetID.NotFound",
              "InvalidSubnetID.Malformed")
NETWORK_INTERFACE = Kind("network_interface", ("eni",), "network-interface",
                         "network interface ID", "InvalidNetworkInterfaceID.NotFound",
                         "InvalidNetworkInterfaceID.Malformed")
KEY_PAIR = Kind("key_pair", ("key",), "key-pair", "key pair", "InvalidKeyPair.NotFound",
                "InvalidKeyPair.NotFound")
RESERVATION = Kind("reservation", ("r",), "reservation", "reservation ID",
                   "InvalidReservationID.NotFound", "InvalidReservationID.Malformed")

KINDS = (IMAGE, INSTANCE, VOLUME, SNAPSHOT, SECURITY_GROUP, ADDRESS, ASSOCIATION, VPC, SUBNET,
         NETWORK_INTERFACE, KEY_PAIR, RESERVATION)
BY_PREFIX = {prefix: kind for kind in KINDS for prefix in kind.prefixes}


def kind_of(ident: str) -> Kind | None:
    """The kind a well-formed id is of (by its prefix), or None."""
    kind = BY_PREFIX.get(ident.split("-", 1)[0])
    return kind if kind is not None and kind.well_formed(ident) else None


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(9)[:HEX_DIGITS]}"


def assign(s: Session, kind: Kind, wanted: Mapping[str, str]) -> dict[str, str]:
    """uuid -> EC2 id for every uuid of ``wanted`` (uuid -> the prefix a new id gets):
    the ids already given, and new ones for the uuids seen for the first time. (Two
    transactions giving one uuid an id at once: one fails on the unique pair and is
    run again, finding the other's.)"""
    out = known(s, kind, wanted)
    for uuid, prefix in wanted.items():
        if uuid not in out:
            row = m.Ec2Id(id=new_id(prefix), kind=kind.name, uuid=uuid)
            s.add(row)
            out[uuid] = row.id
    s.flush()
    return out


def known(s: Session, kind: Kind, uuids: Iterable[str]) -> dict[str, str]:
    """uuid -> EC2 id for those of ``uuids`` that have one."""
    wanted = list(dict.fromkeys(uuids))
    out: dict[str, str] = {}
    for i in range(0, len(wanted), CHUNK):
        rows = s.execute(select(m.Ec2Id.uuid, m.Ec2Id.id).where(
            m.Ec2Id.kind == kind.name, m.Ec2Id.uuid.in_(wanted[i:i + CHUNK])))
        out.update({uuid: ident for uuid, ident in rows})
    return out


def resolve(s: Session, kind: Kind, ident: str) -> str:
    """The native id an EC2 id of ``kind`` names: Malformed when it is not of the kind's
    form, NotFound when it names nothing (or a retired pair)."""
    kind.check(ident)
    found = resolve_many(s, kind, [ident])
    if ident not in found:
        raise kind.missing(ident)
    return found[ident]


def resolve_many(s: Session, kind: Kind, idents: Iterable[str]) -> dict[str, str]:
    """EC2 id -> native id for those of ``idents`` that name a live resource of ``kind``."""
    wanted = list(dict.fromkeys(idents))
    out: dict[str, str] = {}
    for i in range(0, len(wanted), CHUNK):
        rows = s.execute(select(m.Ec2Id.id, m.Ec2Id.uuid).where(
            m.Ec2Id.kind == kind.name, m.Ec2Id.id.in_(wanted[i:i + CHUNK])))
        out.update({ident: uuid for ident, uuid in rows if RETIRED not in uuid})
    return out


def retire(s: Session, kind: Kind, uuid: str) -> None:
    """The resource a composite uuid names has ended (an association was undone): its
    id stays given, but names nothing now, and the pair gets a new id if it recurs."""
    s.execute(update(m.Ec2Id).where(m.Ec2Id.kind == kind.name, m.Ec2Id.uuid == uuid)
              .values(uuid=m.Ec2Id.uuid + RETIRED + m.Ec2Id.id))


def retire_ended(s: Session, kind: Kind, current: Mapping[str, str | None]) -> None:
    """For pairs ``<first>:<second>`` (an address association: floating IP, port), retire
    every live pair of each ``first`` that is not its ``current`` one (None: it has
    none now). One query for all of them."""
    if not current:
        return
    firsts = list(current)
    for i in range(0, len(firsts), CHUNK):
        chunk = firsts[i:i + CHUNK]
        rows = s.execute(select(m.Ec2Id.uuid).where(
            m.Ec2Id.kind == kind.name,
            func.substr(m.Ec2Id.uuid, 1, len(chunk[0])).in_(chunk)))
        for (uuid,) in rows:
            first = uuid.split(":", 1)[0]
            if RETIRED not in uuid and first in current and uuid != current[first]:
                retire(s, kind, uuid)
