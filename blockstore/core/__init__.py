"""The block store's rules, apart from HTTP (as ``imagestore/core.py`` is the image
service's): who may do what to which volume in which state, what each change
records, and which slow part the volume manager then runs.

One module a resource: ``volumes`` (create from every source, update,
metadata, delete, extend, statuses, upload to an image), ``attachments`` (the
legacy attach actions and the attachments API), ``snapshots``, ``backups``
and ``transfers``; ``validation`` checks the values requests carry. Functions
on a ``Session`` check and record a change in one transaction; ``async``
ones run a whole operation with the block store's state. All raise the domain
errors of :mod:`blockstore.errors`; the handlers in ``blockstore/api/`` only
parse requests, call these, and render Cinder's views.
"""
