"""The views at every microversion that changes them, without HTTP: each resource's view
rendered from real rows at 3.0, the latest, every boundary and the version before
it, for a member and an admin, must have exactly the fields the API reference
gives (``tests/functional/blockstore/api_spec.py``, written apart from the code)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import ApiVersion
from blockstore.policy import Caller
from tests.functional.blockstore import api_spec
from tests.unit.migrations import assert_migrations_match

MEMBER = Caller(user_id="u", project_id="p", roles=frozenset({"member"}))
ADMIN = Caller(user_id="a", project_id="admin", roles=frozenset({"admin"}))
NOW = datetime(2026, 1, 2, 3, 4, 5)
MIGRATIONS = Path(__file__).resolve().parents[3] / "blockstore" / "migrations"


def view(version: tuple[int, int], who: Caller) -> views.View:
    return views.View(ApiVersion(*version), who, "http://h/v3/p", "h@file", "h@file#file")


def cases(spec: api_spec.Spec) -> list[tuple[tuple[int, int], Caller]]:
    return [(v, who) for v in spec.versions() for who in (MEMBER, ADMIN)]


VTYPE = m.VolumeType(id="t", name="__DEFAULT__", description=None, is_public=True,
                     extra_specs={"volume_backend_name": "file", "multiattach": "<is> False"},
                     qos_specs_id=None)
VOLUME = m.Volume(id="v", project_id="p", user_id="u", name="n", description=None, size=1,
                  status="available", availability_zone="nova", bootable=False,
                  volume_type_id="t", snapshot_id=None, source_volid=None, metadata_={},
                  image_metadata={}, created_at=NOW, updated_at=NOW, group_id=None,
                  provider_id=None)
SNAP = m.Snapshot(id="s", volume_id="v", project_id="p", user_id="u", name=None,
                  description=None, size=1, status="available", progress="100%",
                  metadata_={}, created_at=NOW, updated_at=NOW, group_snapshot_id=None)


@pytest.mark.parametrize(("version", "who"), cases(api_spec.VOLUME))
def test_volume_view(version: tuple[int, int], who: Caller) -> None:
    v = view(version, who)
    for call in ("create", "update", "show", "detail", "list"):
        body = views.volume(v, VOLUME, call, vtype=VTYPE, attachments=[])
        assert api_spec.mismatch(api_spec.VOLUME, call, version, who.is_admin, body) is None
    with_image = m.Volume(**{c.key: getattr(VOLUME, c.key) for c in m.Volume.__mapper__.attrs
                             if c.key != "image_metadata"}, image_metadata={"image_id": "i"})
    shown = views.volume(v, with_image, "show", vtype=VTYPE, attachments=[])
    assert shown["volume_image_metadata"] == {"image_id": "i"}
    assert "volume_image_metadata" not in views.volume(v, with_image, "create", vtype=VTYPE,
                                                       attachments=[])


@pytest.mark.parametrize(("version", "who"), cases(api_spec.SNAPSHOT))
def test_snapshot_view(version: tuple[int, int], who: Caller) -> None:
    for call in ("create", "update", "show", "detail", "list"):
        body = views.snapshot(view(version, who), SNAP, call)
        assert api_spec.mismatch(api_spec.SNAPSHOT, call, version, who.is_admin, body) is None


@pytest.mark.parametrize(("version", "who"), cases(api_spec.VOLUME_TYPE))
def test_volume_type_view_hides_qos_and_specs_from_members(version: tuple[int, int],
                                                            who: Caller) -> None:
    for call in ("create", "update", "show", "list"):
        body = views.volume_type(view(version, who), VTYPE, call)
        assert api_spec.mismatch(api_spec.VOLUME_TYPE, call, version, who.is_admin,
                                 body) is None
        # members see only the user-visible extra specs
        assert body["extra_specs"] == ({"volume_backend_name": "file",
                                        "multiattach": "<is> False"} if who.is_admin
                                       else {"multiattach": "<is> False"})


@pytest.mark.parametrize(("version", "who"), cases(api_spec.SERVICE_VOLUME))
def test_service_view(version: tuple[int, int], who: Caller) -> None:
    v = view(version, who)
    sched = views.service(v, "cinder-scheduler", "h", "nova", NOW)
    vol = views.service(v, "cinder-volume", "h@file", "nova", NOW)
    assert api_spec.mismatch(api_spec.SERVICE_SCHEDULER, "list", version, True, sched) is None
    assert api_spec.mismatch(api_spec.SERVICE_VOLUME, "list", version, True, vol) is None


@pytest.mark.parametrize(("version", "who"), cases(api_spec.GROUP))
def test_group_view(version: tuple[int, int], who: Caller) -> None:
    grp = m.Group(id="g", project_id="p", user_id="u", name="g", description=None,
                  status="available", availability_zone="nova", group_type_id="gt",
                  volume_type_ids=["t"], group_snapshot_id=None, source_group_id=None,
                  created_at=NOW, updated_at=NOW)
    for call in ("create", "list", "show", "detail"):
        body = views.group(view(version, who), grp, call)
        assert api_spec.mismatch(api_spec.GROUP, call, version, who.is_admin, body) is None
    listed = views.group(view(version, who), grp, "show", volume_ids=["v"])
    assert ("volumes" in listed) == (version >= (3, 25))


BACKUP = m.Backup(id="b", project_id="p", user_id="u", volume_id="v", name="b",
                  description=None, size=1, status="available", fail_reason=None,
                  container="c", is_incremental=False, parent_id=None, object_count=1,
                  availability_zone="nova", metadata_={}, created_at=NOW, updated_at=NOW,
                  data_timestamp=NOW)
TRANSFER = m.Transfer(id="t", volume_id="v", project_id="p", name="t", salt="s",
                      crypt_hash="h", no_snapshots=False, created_at=NOW)
ATTACHMENT = m.Attachment(id="a", volume_id="v", project_id="p", instance_uuid="i",
                          attach_status="attached", attach_mode="rw", attach_time=NOW,
                          detach_time=None, connection_info={"driver_volume_type": "iscsi"})
GROUP_SNAPSHOT = m.GroupSnapshot(id="gs", project_id="p", user_id="u", group_id="g",
                                 group_type_id="gt", name="gs", description=None,
                                 status="available", created_at=NOW, updated_at=NOW)
MESSAGE = m.Message(id="msg", project_id="p", request_id="req", resource_type="VOLUME",
                    resource_uuid="v", event_id="VOLUME_VOLUME_001_001",
                    message_level="ERROR", action_id="001", detail_id="001",
                    created_at=NOW, expires_at=NOW)
GROUP_TYPE = m.GroupType(id="gt", name="gt", description=None, is_public=True,
                         group_specs={"k": "v"})

# (spec, its calls, how one row renders at a view and call)
OTHERS = {
    "backup": (api_spec.BACKUP, ("create", "update", "show", "detail", "list"),
               lambda v, call: views.backup(v, BACKUP, call)),
    "transfer": (api_spec.TRANSFER, ("create", "show", "detail", "list", "accept"),
                 lambda v, call: views.transfer(v, TRANSFER, call, auth_key="k")),
    "attachment": (api_spec.ATTACHMENT, ("create", "update", "show", "detail", "list"),
                   lambda v, call: views.attachment(v, ATTACHMENT, call)),
    "group snapshot": (api_spec.GROUP_SNAPSHOT, ("create", "list", "show", "detail"),
                       lambda v, call: views.group_snapshot(v, GROUP_SNAPSHOT, call)),
    "message": (api_spec.MESSAGE, ("show", "list"),
                lambda v, call: views.message(v, MESSAGE, "text", call)),
    "group type": (api_spec.GROUP_TYPE, ("create", "update", "show", "list"),
                   lambda v, call: views.group_type(v, GROUP_TYPE, call)),
    "pool": (api_spec.POOL, ("list", "detail"), lambda v, call: views.pool(v, {}, call)),
    "host": (api_spec.HOST, ("list",),
             lambda v, call: views.host_entry(v, "h", "cinder-volume", "nova", NOW)),
}


@pytest.mark.parametrize(("name", "version", "who"), [
    (name, version, who) for name, (spec, _, _) in OTHERS.items()
    for version, who in cases(spec)])
def test_other_views(name: str, version: tuple[int, int], who: Caller) -> None:
    spec, calls, render = OTHERS[name]
    for call in calls:
        body = render(view(version, who), call)
        assert api_spec.mismatch(spec, call, version, who.is_admin, body) is None


def test_every_shape_is_consistent() -> None:
    """Later microversions only add fields; admins see at least what members see."""
    for shape in shapes.SHAPES:
        assert shape.boundaries() == sorted(set(shape.boundaries()))
        for call in shape.calls:
            for lo, hi in zip([ApiVersion(3, 0), *shape.boundaries()],
                              [*shape.boundaries(), ApiVersion(3, 70)], strict=True):
                for admin in (False, True):
                    assert set(shape.names(call, lo, admin)) <= set(
                        shape.names(call, hi, admin)), (shape.resource, call)
                assert set(shape.names(call, hi, False)) <= set(shape.names(call, hi, True))


def test_render_refuses_a_view_missing_a_value() -> None:
    with pytest.raises(KeyError):
        shapes.QOS_SPECS.render({"id": "q", "name": "n", "consumer": "both"}, shapes.SHOW,
                                ApiVersion(3, 0), True)


def test_migrations_match_the_models(tmp_path: Path) -> None:
    assert_migrations_match(tmp_path, MIGRATIONS, m.Base.metadata, "blockstore_alembic_version")
