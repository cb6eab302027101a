"""Metadata definitions (metadefs): a catalog of the key/value pairs that may be
set on images, volumes, flavors and other resources, as Glance serves it.

* :mod:`.namespaces` — namespaces (who sees them, listing, the detailed view),
  the policy every call shares, and building a whole namespace in one call;
* :mod:`.contents` — the objects, properties and tags of a namespace;
* :mod:`.resource_types` — resource types and their associations with
  namespaces (each with the prefix its properties take on that resource);
* :mod:`.schemas` — the JSON schemas published under ``/v2/schemas/metadefs``;
* :mod:`.catalog` — the standard namespaces (``catalog/*.json``, our own
  definitions), loaded once when the tables are made.

Policy (Glance's defaults): admins create, change and delete; everyone reads
public namespaces, a project also its own private ones; an invisible
namespace is 404. A protected namespace and its contents cannot be deleted
(403) until it is unprotected.
"""
