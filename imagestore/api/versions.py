"""API versions: what the service advertises, and the version each route came in.

The Images API has no microversion header: a client reads ``GET /versions``
and uses a call only if the version that brought it is listed. We list
2.0 to ``v2.CURRENT_MINOR``; :data:`SINCE` says for every route we serve the
version it needs (from the API reference), and ``docs/compat/image.md`` shows
the same table (a unit test keeps the two and the routes in step). A route's
response has the same fields at every version from its first on.
"""

from __future__ import annotations

from typing import Any

CURRENT_MINOR = 16  # 2.16 is the newest we answer to (2.17's location API is not built)

# (method, route) -> the minor version of 2.x that brought it (None: unversioned)
SINCE: dict[tuple[str, str], int | None] = {
    ("GET", "/"): None,
    ("GET", "/versions"): None,
    # images
    ("POST", "/v2/images"): 0,
    ("GET", "/v2/images"): 0,
    ("GET", "/v2/images/{image_id}"): 0,
    ("PATCH", "/v2/images/{image_id}"): 0,
    ("DELETE", "/v2/images/{image_id}"): 0,
    ("PUT", "/v2/images/{image_id}/file"): 0,
    ("GET", "/v2/images/{image_id}/file"): 0,
    ("PUT", "/v2/images/{image_id}/tags/{tag}"): 0,
    ("DELETE", "/v2/images/{image_id}/tags/{tag}"): 0,
    ("POST", "/v2/images/{image_id}/actions/{action}"): 3,
    ("PUT", "/v2/images/{image_id}/stage"): 6,
    ("POST", "/v2/images/{image_id}/import"): 6,
    ("GET", "/v2/images/{image_id}/tasks"): 12,
    # sharing
    ("POST", "/v2/images/{image_id}/members"): 1,
    ("GET", "/v2/images/{image_id}/members"): 1,
    ("GET", "/v2/images/{image_id}/members/{member}"): 1,
    ("PUT", "/v2/images/{image_id}/members/{member}"): 1,
    ("DELETE", "/v2/images/{image_id}/members/{member}"): 1,
    # schemas (image(s) 2.0, member(s) 2.1, task(s) and metadefs 2.2: see SCHEMA_SINCE)
    ("GET", "/v2/schemas/{name}"): 0,
    ("GET", "/v2/schemas/metadefs/{name}"): 2,
    # discovery
    ("GET", "/v2/info/import"): 6,
    ("GET", "/v2/info/stores"): 8,
    ("GET", "/v2/info/usage"): 15,
    # tasks
    ("POST", "/v2/tasks"): 2,
    ("GET", "/v2/tasks"): 2,
    ("GET", "/v2/tasks/{task_id}"): 2,
    ("DELETE", "/v2/tasks/{task_id}"): 2,
    # metadata definitions
    **{(method, "/v2/metadefs" + path): 2 for method, path in (
        ("GET", "/namespaces"), ("POST", "/namespaces"),
        ("GET", "/namespaces/{namespace}"), ("PUT", "/namespaces/{namespace}"),
        ("DELETE", "/namespaces/{namespace}"),
        ("GET", "/namespaces/{namespace}/objects"),
        ("POST", "/namespaces/{namespace}/objects"),
        ("DELETE", "/namespaces/{namespace}/objects"),
        ("GET", "/namespaces/{namespace}/objects/{object}"),
        ("PUT", "/namespaces/{namespace}/objects/{object}"),
        ("DELETE", "/namespaces/{namespace}/objects/{object}"),
        ("GET", "/namespaces/{namespace}/properties"),
        ("POST", "/namespaces/{namespace}/properties"),
        ("DELETE", "/namespaces/{namespace}/properties"),
        ("GET", "/namespaces/{namespace}/properties/{property}"),
        ("PUT", "/namespaces/{namespace}/properties/{property}"),
        ("DELETE", "/namespaces/{namespace}/properties/{property}"),
        ("GET", "/namespaces/{namespace}/tags"),
        ("POST", "/namespaces/{namespace}/tags"),
        ("DELETE", "/namespaces/{namespace}/tags"),
        ("GET", "/namespaces/{namespace}/tags/{tag}"),
        ("POST", "/namespaces/{namespace}/tags/{tag}"),
        ("PUT", "/namespaces/{namespace}/tags/{tag}"),
        ("DELETE", "/namespaces/{namespace}/tags/{tag}"),
        ("GET", "/resource_types"),
        ("GET", "/namespaces/{namespace}/resource_types"),
        ("POST", "/namespaces/{namespace}/resource_types"),
        ("DELETE", "/namespaces/{namespace}/resource_types/{resource_type}"),
    )},
}

# /v2/schemas/{name}: the version that brought each schema
SCHEMA_SINCE = {"image": 0, "images": 0, "member": 1, "members": 1, "task": 2, "tasks": 2}


def versions_doc(base_url: str) -> dict[str, Any]:
    """``GET /versions``: every 2.x we answer to, the newest CURRENT."""
    return {"versions": [
        {"id": f"v2.{minor}", "status": "CURRENT" if minor == CURRENT_MINOR else "SUPPORTED",
         "links": [{"rel": "self", "href": f"{base_url}/v2/"}]}
        for minor in range(CURRENT_MINOR, -1, -1)]}
