"""Password hashing with Argon2id (argon2-cffi), run off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_PASSWORD_BYTES = 4096

# A dummy hash so that an unknown user costs as much as a wrong password.
_DUMMY = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$Y29uc3RhbnRkdW1teWhhc2g"


class Passwords:
    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=1)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pwhash")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or _DUMMY, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    async def hash_async(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hash, password)

    async def verify_async(self, stored: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self.verify, stored, password)
