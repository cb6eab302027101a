"""Server request bodies parsed into typed requests, per microversion (no I/O here).

Nova validates bodies against a JSON schema per microversion; these parsers apply the
same rules and answer its 400s (``Invalid input for field/attribute <name>. ...``):
unknown properties, wrong types, ``personality`` from 2.57, ``networks`` required
from 2.37 (``auto``, ``none`` or a list), ``user_data`` base64 of at most 65535
characters, ``block_device_mapping_v2`` entries whose source/destination/boot index
do not make a disk, ``tags`` from 2.52, ``description`` from 2.19, ...
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compute.errors import Invalid, PolicyNotAuthorized

MAX_USER_DATA = 65535  # characters of the base64 text, as Nova's schema
MAX_TAGS = 50
_TAG_BAD = re.compile(r"[/,]")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")
SOURCE_TYPES = ("image", "volume", "snapshot", "blank")
DESTINATION_TYPES = ("local", "volume")


def bad(field_name: str, value: Any, why: str) -> Invalid:
    return Invalid(f"Invalid input for field/attribute {field_name}. Value: {value}. {why}")


def unexpected(names: list[str]) -> Invalid:
    quoted = ", ".join(f"'{n}'" for n in sorted(names))
    verb = "were" if len(names) > 1 else "was"
    return Invalid(f"Additional properties are not allowed ({quoted} {verb} unexpected)")


def check_keys(body: Mapping[str, Any], allowed: set[str]) -> None:
    extra = [k for k in body if k not in allowed]
    if extra:
        raise unexpected(extra)


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID.match(value))


def check_name(value: Any, field_name: str = "name") -> str:
    if not isinstance(value, str):
        raise bad(field_name, value, f"{value!r} is not of type 'string'")
    if not 1 <= len(value) <= 255:
        raise bad(field_name, value, "A name of 1 to 255 characters is required")
    if value != value.strip() or any(ord(c) < 32 for c in value):
        raise bad(field_name, value, "Names have no leading or trailing spaces and no "
                                     "control characters")
    return value


def check_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255 or any(
            ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise bad("description", value, "A description is at most 255 printable "
                                        "characters, or null")
    return value


def check_metadata(value: Any, field_name: str = "metadata") -> dict[str, str]:
    if not isinstance(value, dict):
        raise bad(field_name, value, f"{value!r} is not of type 'object'")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            raise bad(field_name, value, "Metadata keys are 1 to 255 characters")
        if not isinstance(item, str) or len(item) > 255:
            raise bad(field_name, value, f"{item!r} is not a string of at most 255 "
                                         "characters")
        out[key] = item
    return out


def check_tags(value: Any, field_name: str = "tags") -> list[str]:
    if not isinstance(value, list):
        raise bad(field_name, value, f"{value!r} is not of type 'array'")
    if len(value) > MAX_TAGS:
        raise bad(field_name, value, f"At most {MAX_TAGS} tags are allowed")
    for tag in value:
        check_tag(tag)
    return list(dict.fromkeys(value))


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not 1 <= len(tag) <= 60 or _TAG_BAD.search(tag):
        raise bad("tags", tag, "Tags are 1 to 60 characters, without '/' or ','")
    return tag


def check_bool(value: Any, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no",
                                                    "on", "off", "t", "f", "y", "n"):
        return value.lower() in ("true", "1", "yes", "on", "t", "y")
    raise bad(field_name, value, f"{value!r} is not of type 'boolean'")


def check_int(value: Any, field_name: str, minimum: int = 0,
              maximum: int = 2147483647) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(field_name, value, f"{value!r} is not of type 'integer', 'string'")
    if not minimum <= value <= maximum:
        raise bad(field_name, value, f"{value} is out of range {minimum}-{maximum}")
    return value


def ref_id(value: Any, field_name: str) -> str:
    """An id given bare or as a link (``http://.../images/<id>``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise bad(field_name, value, f"{value!r} is not of type 'string'")
    return value.rstrip("/").rsplit("/", 1)[-1] if "/" in value else value


def user_data(value: Any) -> str | None:
    """``user_data``: base64 text of at most 65535 characters (kept as given)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad("user_data", value, f"{value!r} is not of type 'string'")
    if len(value) > MAX_USER_DATA:
        raise bad("user_data", "...", f"is longer than {MAX_USER_DATA} characters")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("User data needs to be valid base 64.") from None
    return value


def personality(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise bad("personality", value, f"{value!r} is not of type 'array'")
    out = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"path", "contents"} or \
                not isinstance(item.get("path"), str) or not item["path"] or \
                not isinstance(item.get("contents"), str):
            raise bad("personality", item, "Each file needs a 'path' and base64 "
                                           "'contents'")
        try:
            base64.b64decode(item["contents"], validate=True)
        except (binascii.Error, ValueError):
            raise Invalid(f"Personality content for {item['path']} cannot be decoded") \
                from None
        out.append((item["path"], item["contents"]))
    return out


# -- networks -----------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkRequest:
    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None
    tag: str | None = None


def networks(value: Any, minor: int) -> list[NetworkRequest] | str:
    """A list of requests, or ``auto``/``none`` (2.37+)."""
    if isinstance(value, str):
        if minor >= 37 and value in ("auto", "none"):
            return value
        raise bad("networks", value, f"{value!r} is not of type 'array'"
                  if minor < 37 else f"{value!r} is not one of ['auto', 'none']")
    if not isinstance(value, list):
        raise bad("networks", value, f"{value!r} is not of type 'array'")
    out: list[NetworkRequest] = []
    allowed = {"uuid", "port", "fixed_ip"} | ({"tag"} if minor >= 32 else set())
    for item in value:
        if not isinstance(item, dict):
            raise bad("networks", item, f"{item!r} is not of type 'object'")
        check_keys(item, allowed)
        net, port, ip = item.get("uuid"), item.get("port"), item.get("fixed_ip")
        if port is not None and not is_uuid(port):
            raise bad("port", port, f"'{port}' is not a 'uuid'")
        if net is not None and not isinstance(net, str):
            raise bad("uuid", net, f"{net!r} is not of type 'string'")
        if port is None and net is None:
            raise Invalid("Bad networks format: network uuid is not in proper format "
                          f"({net})")
        if port is None and net is not None and not is_uuid(net):
            raise Invalid(f"Bad networks format: network uuid is not in proper format "
                          f"({net})")
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise Invalid(f"Invalid fixed IP address ({ip})") from None
        tag = item.get("tag")
        if tag is not None:
            check_tag(tag)
        out.append(NetworkRequest(network_id=None if port else net, port_id=port,
                                  fixed_ip=ip, tag=tag))
    ports = [r.port_id for r in out if r.port_id]
    if len(set(ports)) != len(ports):
        raise Invalid("Duplicate networks are not allowed: a port is given twice")
    return out


# -- block device mappings ----------------------------------------------------------


@dataclass(frozen=True)
class BlockDevice:
    source_type: str
    destination_type: str
    uuid: str | None = None
    boot_index: int | None = None
    volume_size: int | None = None
    delete_on_termination: bool = False
    device_name: str | None = None
    guest_format: str | None = None
    tag: str | None = None
    volume_type: str | None = None
    disk_bus: str | None = None


_BDM_KEYS = {"source_type", "destination_type", "uuid", "boot_index", "volume_size",
             "delete_on_termination", "device_name", "guest_format", "disk_bus",
             "device_type", "no_device", "image_id", "snapshot_id", "volume_id"}


def _bdm_invalid(why: str) -> Invalid:
    return Invalid(f"Block Device Mapping is Invalid: {why}")


def block_device(item: Any, minor: int) -> BlockDevice | None:
    if not isinstance(item, dict):
        raise bad("block_device_mapping_v2", item, f"{item!r} is not of type 'object'")
    allowed = set(_BDM_KEYS) | ({"tag"} if minor >= 42 or minor == 32 else set()) | \
        ({"volume_type"} if minor >= 67 else set())
    check_keys(item, allowed)
    if item.get("no_device"):
        return None
    src = item.get("source_type")
    dst = item.get("destination_type", "volume" if src in ("volume", "snapshot") else
                   "local")
    if src not in SOURCE_TYPES:
        raise bad("source_type", src, f"{src!r} is not one of {list(SOURCE_TYPES)}")
    if dst not in DESTINATION_TYPES:
        raise bad("destination_type", dst, f"{dst!r} is not one of "
                                           f"{list(DESTINATION_TYPES)}")
    raw_index = item.get("boot_index")
    boot_index: int | None = None
    if raw_index not in (None, "None", "none", ""):
        try:
            boot_index = int(raw_index)
        except (TypeError, ValueError):
            raise bad("boot_index", raw_index, "is not an integer") from None
        if boot_index < 0:
            boot_index = None  # Nova: negative means not bootable
    ident = item.get("uuid") or item.get(f"{src}_id")
    size = item.get("volume_size")
    volume_size = check_int(size, "volume_size", 0) if size is not None else None
    dot = item.get("delete_on_termination", False)
    delete = check_bool(dot, "delete_on_termination") if dot is not None else False
    if src in ("volume", "snapshot") and dst != "volume":
        raise _bdm_invalid(f"a {src} can only be a volume")
    if src in ("image", "volume", "snapshot") and not is_uuid(ident):
        raise bad("uuid", ident, f"{src} block devices need the {src}'s uuid")
    if src == "blank" and dst == "volume" and not volume_size:
        raise _bdm_invalid("a blank volume needs a volume_size")
    if src == "image" and dst == "volume" and volume_size == 0:
        raise _bdm_invalid("Images with destination_type 'volume' need to have a non-zero "
                           "size specified")
    if src == "image" and dst == "local" and boot_index not in (0, None):
        raise _bdm_invalid("an image disk that is not a volume must be the boot disk")
    if src == "blank" and dst == "local" and boot_index == 0:
        raise _bdm_invalid("a blank local disk cannot be the boot disk")
    tag = item.get("tag")
    if tag is not None:
        check_tag(tag)
    vt = item.get("volume_type")
    if vt is not None and (not isinstance(vt, str) or not vt or len(vt) > 255):
        raise bad("volume_type", vt, "A volume type name of 1 to 255 characters")
    device = item.get("device_name")
    if device is not None and (not isinstance(device, str) or not device or
                               len(device) > 255 or " " in device):
        raise bad("device_name", device, "is not a device name")
    return BlockDevice(source_type=src, destination_type=dst,
                       uuid=str(ident) if ident else None, boot_index=boot_index,
                       volume_size=volume_size, delete_on_termination=delete,
                       device_name=device, guest_format=item.get("guest_format"), tag=tag,
                       volume_type=vt, disk_bus=item.get("disk_bus"))


def block_devices(value: Any, minor: int, image_ref: str) -> list[BlockDevice]:
    """The parsed ``block_device_mapping_v2``; exactly one boot disk in the end (the
    image's root when ``image_ref`` is given and no mapping boots)."""
    if not isinstance(value, list):
        raise bad("block_device_mapping_v2", value, f"{value!r} is not of type 'array'")
    out = [bd for bd in (block_device(item, minor) for item in value) if bd is not None]
    boots = sorted(bd.boot_index for bd in out if bd.boot_index is not None)
    if boots and (boots[0] != 0 or len(set(boots)) != len(boots)):
        raise _bdm_invalid("Boot sequence for the instance and image/block device mapping "
                           "combination is not valid.")
    if not image_ref and 0 not in boots:
        raise _bdm_invalid("Boot sequence for the instance and image/block device mapping "
                           "combination is not valid.")
    if sum(1 for bd in out if bd.source_type == "image" and bd.destination_type == "local"
           and bd.boot_index != 0) > 0:
        raise _bdm_invalid("Mapping image to local is not supported.")
    return out


# -- server create --------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRequest:
    name: str
    image_ref: str  # "" when the server boots from a volume
    flavor_ref: str
    min_count: int = 1
    max_count: int = 1
    return_reservation_id: bool = False
    key_name: str | None = None
    user_data: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    personality: tuple[tuple[str, str], ...] = ()
    config_drive: bool = False
    security_groups: tuple[str, ...] = ("default",)
    networks: list[NetworkRequest] | str | None = None  # None: pre-2.37 default (auto)
    availability_zone: str | None = None
    host: str | None = None  # "zone:host" (admins), or 2.74's host
    block_devices: tuple[BlockDevice, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    admin_pass: str | None = None
    disk_config: str = "MANUAL"
    group: str | None = None  # os:scheduler_hints group


_CREATE_KEYS = {"name", "imageRef", "flavorRef", "key_name", "user_data", "metadata",
                "config_drive", "security_groups", "networks", "availability_zone",
                "min_count", "max_count", "return_reservation_id", "block_device_mapping",
                "block_device_mapping_v2", "accessIPv4", "accessIPv6", "adminPass",
                "OS-DCF:diskConfig", "scheduler_hints"}


def _ip(value: Any, version: int, field_name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        addr = ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise bad(field_name, value, f"'{value}' is not a 'ipv{version}'") from None
    if addr.version != version:
        raise bad(field_name, value, f"'{value}' is not a 'ipv{version}'")
    return str(addr)


def legacy_block_devices(value: Any) -> list[dict[str, Any]]:
    """The v1 ``block_device_mapping`` as v2 entries (a volume or snapshot per device)."""
    if not isinstance(value, list):
        raise bad("block_device_mapping", value, f"{value!r} is not of type 'array'")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise bad("block_device_mapping", item, f"{item!r} is not of type 'object'")
        src = "snapshot" if item.get("snapshot_id") else "volume"
        entry = {"source_type": src, "destination_type": "volume",
                 "uuid": item.get("snapshot_id") or item.get("volume_id"),
                 "device_name": item.get("device_name"),
                 "delete_on_termination": item.get("delete_on_termination", False)}
        if item.get("volume_size"):
            entry["volume_size"] = item["volume_size"]
        if item.get("device_name") in ("vda", "/dev/vda"):
            entry["boot_index"] = 0
        out.append(entry)
    return out


def parse_create(body: Any, minor: int, *, is_admin: bool) -> CreateRequest:
    if not isinstance(body, dict) or not isinstance(body.get("server"), dict):
        raise bad("server", body, "'server' is a required property")
    check_keys(body, {"server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"})
    srv: dict[str, Any] = body["server"]
    allowed = set(_CREATE_KEYS)
    if minor < 57:
        allowed.add("personality")
    if minor >= 19:
        allowed.add("description")
    if minor >= 52:
        allowed.add("tags")
    if minor >= 63:
        allowed.add("trusted_image_certificates")
    if minor >= 74:
        allowed |= {"host", "hypervisor_hostname"}
    check_keys(srv, allowed)
    if "name" not in srv:
        raise bad("server", "...", "'name' is a required property")
    if "flavorRef" not in srv:
        raise bad("server", "...", "'flavorRef' is a required property")
    if minor >= 37 and "networks" not in srv:
        raise bad("server", "...", "'networks' is a required property")
    name = check_name(srv["name"])
    image_ref = ref_id(srv.get("imageRef") or "", "imageRef") if srv.get("imageRef") else ""
    if image_ref and not is_uuid(image_ref):
        raise Invalid(f"Invalid imageRef provided. Image {image_ref} could not be found.")
    flavor_ref = ref_id(srv["flavorRef"], "flavorRef")
    if not flavor_ref:
        raise bad("flavorRef", srv["flavorRef"], "A flavor is required")
    min_count = check_int(srv.get("min_count", 1), "min_count", 1)
    max_count = check_int(srv.get("max_count", min_count), "max_count", 1)
    if min_count > max_count:
        raise Invalid("min_count must be <= max_count")
    raw_bdm = srv.get("block_device_mapping_v2")
    if raw_bdm is None and srv.get("block_device_mapping") is not None:
        raw_bdm = legacy_block_devices(srv["block_device_mapping"])
    bdms = block_devices(raw_bdm, minor, image_ref) if raw_bdm is not None else []
    if not image_ref and not bdms:
        raise Invalid("Missing imageRef attribute")
    if any(bd.source_type == "volume" and bd.destination_type == "volume" for bd in bdms) \
            and max_count > 1:
        raise Invalid("Cannot attach one or more volumes to multiple instances")
    key_name = srv.get("key_name")
    if key_name is not None and (not isinstance(key_name, str) or not key_name):
        raise bad("key_name", key_name, "is not a key pair name")
    groups: list[str] = []
    for item in srv.get("security_groups") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or \
                not item["name"]:
            raise bad("security_groups", item, "Each security group needs a 'name'")
        groups.append(item["name"])
    nets = networks(srv["networks"], minor) if "networks" in srv else None
    if isinstance(nets, list) and max_count > 1 and any(n.port_id for n in nets):
        raise Invalid("Unable to launch multiple instances with a single configured port ID."
                      " Please launch your instance one by one with different ports.")
    zone = srv.get("availability_zone")
    host = None
    if zone is not None:
        if not isinstance(zone, str) or not zone or len(zone) > 255:
            raise bad("availability_zone", zone, "is not an availability zone name")
        if ":" in zone:
            zone_part, _, host_part = zone.partition(":")
            host = host_part.split(":", 1)[0] or None
            zone = zone_part or None
            if host and not is_admin:
                raise PolicyNotAuthorized("os_compute_api:servers:create:forced_host")
    if minor >= 74 and srv.get("host") is not None:
        if not is_admin:
            raise PolicyNotAuthorized("compute:servers:create:requested_destination")
        host = str(srv["host"])
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise bad("os:scheduler_hints", hints, f"{hints!r} is not of type 'object'")
    group = hints.get("group")
    if group is not None and not is_uuid(group):
        raise bad("group", group, f"'{group}' is not a 'uuid'")
    disk_config = srv.get("OS-DCF:diskConfig", "MANUAL")
    if disk_config not in ("AUTO", "MANUAL"):
        raise bad("OS-DCF:diskConfig", disk_config, "is not one of ['AUTO', 'MANUAL']")
    admin_pass = srv.get("adminPass")
    if admin_pass is not None and not isinstance(admin_pass, str):
        raise bad("adminPass", admin_pass, f"{admin_pass!r} is not of type 'string'")
    drive = srv.get("config_drive")
    return CreateRequest(
        name=name, image_ref=image_ref, flavor_ref=flavor_ref, min_count=min_count,
        max_count=max_count,
        return_reservation_id=check_bool(srv.get("return_reservation_id", False),
                                         "return_reservation_id"),
        key_name=key_name, user_data=user_data(srv.get("user_data")),
        metadata=check_metadata(srv.get("metadata", {})),
        personality=tuple(personality(srv["personality"])) if "personality" in srv else (),
        config_drive=check_bool(drive, "config_drive") if drive not in (None, "") else False,
        security_groups=tuple(dict.fromkeys(groups)) or ("default",),
        networks=nets, availability_zone=zone, host=host, block_devices=tuple(bdms),
        description=check_description(srv.get("description", None)),
        tags=tuple(check_tags(srv["tags"])) if "tags" in srv else (),
        access_ip_v4=_ip(srv.get("accessIPv4"), 4, "accessIPv4"),
        access_ip_v6=_ip(srv.get("accessIPv6"), 6, "accessIPv6"),
        admin_pass=admin_pass, disk_config=disk_config, group=group)


# -- update and rebuild ----------------------------------------------------------------


def parse_update(body: Any, minor: int) -> dict[str, Any]:
    """The fields a ``PUT /servers/{id}`` changes."""
    if not isinstance(body, dict) or not isinstance(body.get("server"), dict):
        raise bad("server", body, "'server' is a required property")
    srv: dict[str, Any] = body["server"]
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"} | \
        ({"description"} if minor >= 19 else set())
    check_keys(srv, allowed)
    out: dict[str, Any] = {}
    if "name" in srv:
        out["display_name"] = check_name(srv["name"])
    if "description" in srv:
        out["display_description"] = check_description(srv["description"])
    if "accessIPv4" in srv:
        out["access_ip_v4"] = _ip(srv["accessIPv4"], 4, "accessIPv4")
    if "accessIPv6" in srv:
        out["access_ip_v6"] = _ip(srv["accessIPv6"], 6, "accessIPv6")
    return out


@dataclass(frozen=True)
class RebuildRequest:
    image_ref: str
    name: str | None = None
    metadata: Mapping[str, str] | None = None
    personality: tuple[tuple[str, str], ...] | None = None
    admin_pass: str | None = None
    description: str | None = None
    has_description: bool = False
    key_name: str | None = None
    has_key_name: bool = False
    user_data: str | None = None
    has_user_data: bool = False
    preserve_ephemeral: bool = False
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None


def parse_rebuild(args: Any, minor: int) -> RebuildRequest:
    if not isinstance(args, dict):
        raise bad("rebuild", args, f"{args!r} is not of type 'object'")
    allowed = {"imageRef", "name", "metadata", "adminPass", "preserve_ephemeral",
               "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    allowed |= {"personality"} if minor < 57 else {"user_data"}
    allowed |= {"description"} if minor >= 19 else set()
    allowed |= {"key_name"} if minor >= 54 else set()
    allowed |= {"trusted_image_certificates"} if minor >= 63 else set()
    check_keys(args, allowed)
    if "imageRef" not in args:
        raise bad("rebuild", "...", "'imageRef' is a required property")
    image_ref = ref_id(args["imageRef"], "imageRef")
    if not is_uuid(image_ref):
        raise Invalid(f"Invalid imageRef provided. Image {image_ref} could not be found.")
    key = args.get("key_name")
    if key is not None and (not isinstance(key, str) or not key):
        raise bad("key_name", key, "is not a key pair name")
    return RebuildRequest(
        image_ref=image_ref,
        name=check_name(args["name"]) if "name" in args else None,
        metadata=check_metadata(args["metadata"]) if "metadata" in args else None,
        personality=tuple(personality(args["personality"])) if "personality" in args
        else None,
        admin_pass=args.get("adminPass"),
        description=check_description(args.get("description")),
        has_description="description" in args, key_name=key,
        has_key_name="key_name" in args, user_data=user_data(args.get("user_data")),
        has_user_data="user_data" in args,
        preserve_ephemeral=check_bool(args.get("preserve_ephemeral", False),
                                      "preserve_ephemeral"),
        access_ip_v4=_ip(args.get("accessIPv4"), 4, "accessIPv4"),
        access_ip_v6=_ip(args.get("accessIPv6"), 6, "accessIPv6"))


def new_reservation_id() -> str:
    return "r-" + uuid.uuid4().hex[:8]
