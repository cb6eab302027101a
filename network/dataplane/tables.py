"""Keeping nftables tables equal to rendered text, without needless reloads.

A table is always replaced whole, in one ``nft -f`` transaction (see
``firewall.render``), so there is never a moment with half a ruleset. To stay
idempotent, the text last loaded and the kernel's listing right after
loading it are remembered: when the new text is the same and the listing has
not changed since (nobody edited or removed the table), nothing is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from network.dataplane.run import nft


class Tables:
    def __init__(self) -> None:
        # (namespace or None, key) -> (text loaded, listing after loading it)
        self._loaded: dict[tuple[str | None, str], tuple[str, str]] = {}

    async def listing(self, tables: Sequence[str], netns: str | None = None) -> str:
        """The kernel's listing of ``tables`` ("family name" each); '' for a missing one."""
        out = []
        for table in tables:
            result = await nft("list", "table", *table.split(), netns=netns, check=False)
            out.append(result.stdout if result.returncode == 0 else "")
        return "\n".join(out)

    async def ensure(self, key: str, text: str, tables: Sequence[str],
                     netns: str | None = None) -> bool:
        """Load ``text`` (which makes ``tables``) unless already there; True when loaded."""
        before = await self.listing(tables, netns)
        if self._loaded.get((netns, key)) == (text, before) and before.strip():
            return False
        await nft("-f", "-", netns=netns, input=text)
        self._loaded[(netns, key)] = (text, await self.listing(tables, netns))
        return True

    async def ensure_absent(self, key: str, text: str, tables: Sequence[str],
                            netns: str | None = None) -> bool:
        """Run the removal ``text`` when any of ``tables`` exists; True when it did."""
        self._loaded.pop((netns, key), None)
        if not (await self.listing(tables, netns)).strip():
            return False
        await nft("-f", "-", netns=netns, input=text)
        return True

    def forget(self, netns: str) -> None:
        for key in [k for k in self._loaded if k[0] == netns]:
            del self._loaded[key]
