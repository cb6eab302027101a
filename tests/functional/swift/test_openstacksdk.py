"""openstacksdk's ``conn.object_store`` against a real running Strata (demo user, Keystone)."""

from __future__ import annotations

import hashlib
import os

import openstack
import pytest
from openstack.connection import Connection

from tests.functional.swift.conftest import StrataInstance


@pytest.fixture(scope="module")
def conn(strata_swift: StrataInstance) -> Connection:
    rc = strata_swift.openrc("demo-openrc")
    return openstack.connect(
        auth_url=rc["OS_AUTH_URL"], username=rc["OS_USERNAME"], password=rc["OS_PASSWORD"],
        project_name=rc["OS_PROJECT_NAME"], user_domain_name=rc["OS_USER_DOMAIN_NAME"],
        project_domain_name=rc["OS_PROJECT_DOMAIN_NAME"], region_name=rc["OS_REGION_NAME"],
        interface=rc["OS_INTERFACE"], identity_api_version="3",
    )


def test_object_store_life_cycle(conn: Connection) -> None:
    store = conn.object_store
    name = "sdk box ü"
    created = store.create_container(name=name)
    assert created.name == name
    assert name in [c.name for c in store.containers()]

    small = b"small object\n"
    big = os.urandom(2 * 1024 * 1024 + 3)
    store.upload_object(container=name, name="docs/readme é.txt", data=small)
    store.create_object(container=name, name="docs/sub/deep.bin", data=big)
    store.create_object(container=name, name="other.txt", data=b"other")

    assert sorted(o.name for o in store.objects(name)) == [
        "docs/readme é.txt", "docs/sub/deep.bin", "other.txt"]
    assert [o.name for o in store.objects(name, prefix="docs/")] == [
        "docs/readme é.txt", "docs/sub/deep.bin"]
    listed = {o.name: o for o in store.objects(name)}
    assert listed["docs/sub/deep.bin"].content_length == len(big)
    assert listed["docs/sub/deep.bin"].etag == hashlib.md5(big).hexdigest()

    got = store.get_object("docs/readme é.txt", container=name, remember_content=True)
    assert got.data == small.decode() and got.content_type == "text/plain"  # sdk decodes text
    assert store.download_object("docs/sub/deep.bin", container=name) == big

    store.set_container_metadata(name, owner="tests", purpose="sdk")
    meta = store.get_container_metadata(name)
    assert meta.metadata == {"owner": "tests", "purpose": "sdk"}
    assert meta.object_count == 3 and meta.bytes_used == len(small) + len(big) + 5
    store.delete_container_metadata(name, ["purpose"])
    assert store.get_container_metadata(name).metadata == {"owner": "tests"}

    store.set_object_metadata("other.txt", container=name, color="red", size="L")
    ometa = store.get_object_metadata("other.txt", container=name)
    assert ometa.metadata == {"color": "red", "size": "L"}
    assert ometa.content_length == 5
    assert store.download_object("other.txt", container=name) == b"other"

    for obj in list(store.objects(name)):
        store.delete_object(obj, container=name)
    assert list(store.objects(name)) == []
    store.delete_container(name, ignore_missing=False)
    assert name not in [c.name for c in store.containers()]
