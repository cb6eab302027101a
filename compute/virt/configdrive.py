"""The config drive: an ISO 9660 image, label ``config-2``, with the instance's metadata.

Laid out as the OpenStack config drive that cloud-init and similar agents read:

- ``openstack/<version>/meta_data.json`` (uuid, name, hostname, public_keys and
  keys, launch_index, availability_zone, project_id, meta, devices, random_seed,
  files), ``user_data`` when there is any, ``network_data.json`` (versions from
  2015-10-15), ``vendor_data.json`` (from 2013-10-17) and ``vendor_data2.json``
  (from 2016-10-06), for every version in ``OPENSTACK_VERSIONS`` and ``latest``;
- ``openstack/content/NNNN``: the personality files ``meta_data.json`` points at;
- ``ec2/2009-04-04/meta-data.json`` and ``ec2/latest/meta-data.json`` (with
  ``user-data`` beside them).

The image is written with pycdlib (pure Python): ISO 9660 with Rock Ridge and
Joliet names, so a guest sees the real file names. JSON documents are written on
one line (the tiny test guest reads them with sed).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycdlib

LABEL = "config-2"
OPENSTACK_VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14")
EC2_VERSIONS = ("2009-04-04", "latest")
_NETWORK_DATA_SINCE = "2015-10-15"
_VENDOR_DATA_SINCE = "2013-10-17"
_VENDOR_DATA2_SINCE = "2016-10-06"
_RANDOM_SEED_SINCE = "2013-04-04"


@dataclass(frozen=True)
class ConfigDriveData:
    """What the guest is told about itself. ``public_keys``: key name -> OpenSSH key."""

    uuid: str
    name: str
    hostname: str
    project_id: str = ""
    availability_zone: str = "nova"
    launch_index: int = 0
    public_keys: Mapping[str, str] = field(default_factory=dict)
    user_data: bytes | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    network_data: Mapping[str, Any] = field(default_factory=dict)
    vendor_data: Mapping[str, Any] = field(default_factory=dict)
    vendor_data2: Mapping[str, Any] = field(default_factory=dict)
    files: Sequence[tuple[str, bytes]] = ()  # personality: (guest path, content)
    random_seed: bytes = field(default_factory=lambda: os.urandom(512))
    # EC2 view
    ec2_instance_id: str = ""
    ami_id: str = ""
    instance_type: str = ""
    reservation_id: str = ""
    security_groups: Sequence[str] = ()
    local_ipv4: str = ""
    public_ipv4: str = ""


def _key_type(key: str) -> str:
    kind = key.split(None, 1)[0] if key.strip() else ""
    return "ssh" if kind.startswith(("ssh-", "ecdsa-", "sk-")) else "x509"


def meta_data(data: ConfigDriveData, version: str = "latest") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "uuid": data.uuid,
        "name": data.name,
        "hostname": data.hostname,
        "launch_index": data.launch_index,
        "availability_zone": data.availability_zone,
        "project_id": data.project_id,
        "meta": dict(data.meta),
        "devices": [],
    }
    if data.public_keys:
        doc["public_keys"] = dict(data.public_keys)
        doc["keys"] = [{"name": name, "type": _key_type(key), "data": key}
                       for name, key in data.public_keys.items()]
    if data.files:
        doc["files"] = [{"path": path, "content_path": f"/content/{i:04d}"}
                        for i, (path, _) in enumerate(data.files)]
    if version == "latest" or version >= _RANDOM_SEED_SINCE:
        doc["random_seed"] = base64.b64encode(data.random_seed).decode()
    return doc


def ec2_meta_data(data: ConfigDriveData) -> dict[str, Any]:
    keys = list(data.public_keys.items())
    doc: dict[str, Any] = {
        "ami-id": data.ami_id,
        "ami-launch-index": data.launch_index,
        "ami-manifest-path": "FIXME",
        "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
        "hostname": data.hostname,
        "instance-action": "none",
        "instance-id": data.ec2_instance_id,
        "instance-type": data.instance_type,
        "local-hostname": data.hostname,
        "local-ipv4": data.local_ipv4,
        "placement": {"availability-zone": data.availability_zone},
        "public-hostname": data.hostname,
        "public-ipv4": data.public_ipv4,
        "reservation-id": data.reservation_id,
        "security-groups": list(data.security_groups),
    }
    if keys:
        doc["public-keys"] = {str(i): {"openssh-key": key, "_name": f"{i}={name}"}
                              for i, (name, key) in enumerate(keys)}
    return doc


def _json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=False).encode()


def contents(data: ConfigDriveData) -> dict[str, bytes]:
    """Path (relative, '/'-separated) -> bytes of every file on the drive."""
    files: dict[str, bytes] = {}
    for version in (*OPENSTACK_VERSIONS, "latest"):
        base = f"openstack/{version}"
        files[f"{base}/meta_data.json"] = _json(meta_data(data, version))
        if data.user_data is not None:
            files[f"{base}/user_data"] = data.user_data
        newer = version == "latest"
        if newer or version >= _VENDOR_DATA_SINCE:
            files[f"{base}/vendor_data.json"] = _json(data.vendor_data)
        if newer or version >= _NETWORK_DATA_SINCE:
            files[f"{base}/network_data.json"] = _json(data.network_data)
        if newer or version >= _VENDOR_DATA2_SINCE:
            files[f"{base}/vendor_data2.json"] = _json(data.vendor_data2)
    for i, (_, content) in enumerate(data.files):
        files[f"openstack/content/{i:04d}"] = content
    for version in EC2_VERSIONS:
        files[f"ec2/{version}/meta-data.json"] = _json(ec2_meta_data(data))
        if data.user_data is not None:
            files[f"ec2/{version}/user-data"] = data.user_data
    return files


def write_iso(files: Mapping[str, bytes], dest: str | Path, label: str = LABEL) -> None:
    """Write ``files`` as an ISO 9660 image (Rock Ridge + Joliet) at ``dest``.

    Blocking; ``dest`` is written to a temporary name and renamed into place.
    """
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, rock_ridge="1.09", joliet=3, vol_ident=label)
    short: dict[str, str] = {"": ""}  # real directory path -> ISO 9660 path
    counter = 0

    def iso_dir(path: str) -> str:
        nonlocal counter
        if path in short:
            return short[path]
        parent, _, name = path.rpartition("/")
        parent_iso = iso_dir(parent)
        counter += 1
        mine = f"{parent_iso}/D{counter:07d}"
        iso.add_directory(mine, rr_name=name, joliet_path=f"/{path}")
        short[path] = mine
        return mine

    for path in sorted(files):
        parent, _, name = path.rpartition("/")
        directory = iso_dir(parent)
        counter += 1
        content = files[path]
        iso.add_fp(io.BytesIO(content), len(content), f"{directory}/F{counter:07d}.;1",
                   rr_name=name, joliet_path=f"/{path}")
    tmp = Path(f"{dest}.tmp")
    try:
        iso.write(str(tmp))
        iso.close()
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def build(data: ConfigDriveData, dest: str | Path) -> None:
    """Write the config drive of ``data`` to ``dest`` (blocking: use a worker thread)."""
    write_iso(contents(data), dest)


def read_iso(path: str | Path) -> dict[str, bytes]:
    """Every file of an ISO by its Rock Ridge path (for tests and inspection)."""
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    out: dict[str, bytes] = {}
    try:
        for dirname, _, filenames in iso.walk(rr_path="/"):
            for name in filenames:
                full = f"{dirname.rstrip('/')}/{name}"
                buf = io.BytesIO()
                iso.get_file_from_iso_fp(buf, rr_path=full)
                out[full.lstrip("/")] = buf.getvalue()
    finally:
        iso.close()
    return out


def volume_label(path: str | Path) -> str:
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        ident: bytes = iso.pvd.volume_identifier
        return ident.decode().strip()
    finally:
        iso.close()
