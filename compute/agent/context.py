"""What every operation of a host's agent works with: the driver, the image cache, the
instances directory, this host's name and connector, and the clients it acts through.

Clients act as the user who asked (the token their request left in the
:class:`~compute.state.TokenStash`: a private image, a volume made in their project),
or, when there is none (after a restart), as the service user, which the block store
and the networking service let act on any project's volumes, attachments and ports.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from blockstore.client import VolumeClient
from compute import models as m
from compute.core import servers
from compute.errors import ServerNotFound
from compute.state import ComputeState
from compute.virt.driver import VirtDriver
from compute.virt.imagecache import ImageCache
from imagestore.client import ImageClient

log = logging.getLogger("compute.agent")
T = TypeVar("T")


@dataclass
class AgentContext:
    st: ComputeState
    driver: VirtDriver
    cache: ImageCache
    host: str
    instances_dir: Path
    host_ip: str = "127.0.0.1"
    builds: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(10))

    @property
    def cfg(self) -> Any:
        return self.st.cfg.compute

    # -- files ------------------------------------------------------------------------

    def instance_dir(self, uuid: str) -> Path:
        return self.instances_dir / uuid

    def console_log(self, uuid: str) -> Path:
        return self.instance_dir(uuid) / "console.log"

    async def remove_files(self, uuid: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.instance_dir(uuid), True)

    # -- the database -----------------------------------------------------------------

    async def db(self, fn: Callable[[Session], T]) -> T:
        return await self.st.db.run(fn)

    async def load(self, uuid: str) -> m.Instance:
        """The server's row with its disks, ports and tags (404 when gone)."""
        def read(s: Session) -> m.Instance:
            inst = s.get(m.Instance, uuid)
            if inst is None:
                raise ServerNotFound(uuid)
            return inst

        return await self.db(read)

    async def update(self, uuid: str, **values: Any) -> None:
        def write(s: Session) -> None:
            inst = s.get(m.Instance, uuid)
            if inst is not None and not inst.deleted:
                servers.touch(inst, **values)

        await self.db(write)

    # -- clients ----------------------------------------------------------------------

    def user_token(self, uuid: str) -> tuple[str, str] | None:
        return self.st.tokens.get(uuid)

    def images(self, uuid: str) -> ImageClient:
        user = self.user_token(uuid)
        if user is not None:
            return self.st.images(user[0])
        return ImageClient(self.st.cfg.imagestore_url(), self.st.validator.service_token,
                           session=self.st.session)

    async def volumes(self, uuid: str, project_id: str, *,
                      as_user: bool = False) -> VolumeClient:
        """The block store for this server's work: as its user when their token is here
        (``as_user`` insists: a new volume must be the user's), else as the service."""
        user = self.user_token(uuid)
        if user is not None:
            return self.st.volumes(user[0], user[1])
        if as_user:
            return self.st.volumes("", project_id)  # will be refused: no token to act with
        return await self.st.service_volumes()

    def connector(self, mountpoint: str | None = None) -> dict[str, Any]:
        """This host as an iSCSI initiator (no initiator name: QEMU logs in with CHAP,
        and the target's ACL is CHAP alone), and the device the volume becomes."""
        out: dict[str, Any] = {"ip": self.host_ip, "host": self.host, "platform": "x86_64",
                               "os_type": "linux", "multipath": False}
        if mountpoint:
            out["mountpoint"] = mountpoint
        return out

