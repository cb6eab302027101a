"""The parameters of an EC2 Query request, parsed once into a tree and read with types.

The Query API flattens structures and lists into dotted names:
``Filter.1.Name=volume-id&Filter.1.Value.1=vol-1``, ``VolumeId.1=vol-1``,
``BlockDeviceMapping.1.Ebs.VolumeSize=8``. :meth:`Params.parse` makes a tree of
them (``params.child("Filter")``...); the typed readers (:meth:`Params.text`,
:meth:`Params.integer`, :meth:`Params.boolean`, :meth:`Params.strings`,
:meth:`Params.structs`) check what they read and raise EC2's
``MissingParameter`` or ``InvalidParameterValue`` naming the parameter by its
full dotted name. No HTTP here: the API hands over the decoded pairs.
"""

from __future__ import annotations

from collections.abc import Iterable

from ec2.errors import InvalidParameterValue, MissingParameter

MAX_INDEX = 10000  # the largest N of ``Name.N`` accepted (AWS's own lists are far shorter)
MAX_DEPTH = 8


class Params:
    """One node of the tree: a value, children by name (list members by their index), or
    both (a name sent as ``VolumeId`` and as ``VolumeId.1``)."""

    __slots__ = ("children", "path", "value")

    def __init__(self, path: str = "", value: str | None = None) -> None:
        self.path = path
        self.value = value
        self.children: dict[str, Params] = {}

    @classmethod
    def parse(cls, pairs: Iterable[tuple[str, str]]) -> Params:
        """The tree of decoded ``(name, value)`` pairs; InvalidParameterValue for a name
        with an empty part or too many parts."""
        root = cls()
        for name, value in pairs:
            parts = name.split(".")
            if not name or "" in parts or len(parts) > MAX_DEPTH:
                raise InvalidParameterValue(f"The parameter name '{name[:100]}' is not valid.")
            node = root
            for i, part in enumerate(parts):
                nxt = node.children.get(part)
                if nxt is None:
                    nxt = node.children[part] = Params(".".join(parts[: i + 1]))
                node = nxt
            node.value = value
        return root

    def _name(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def child(self, name: str) -> Params | None:
        """The structure ``name`` (``Ebs`` of a block device mapping), or None."""
        return self.children.get(name)

    def has(self, name: str) -> bool:
        return name in self.children

    def text(self, name: str, *, required: bool = False, max_len: int = 0,
             choices: Iterable[str] = ()) -> str | None:
        """The string ``name``: MissingParameter when required and absent (or empty),
        InvalidParameterValue when longer than ``max_len`` or not one of ``choices``."""
        node = self.children.get(name)
        value = node.value if node is not None else None
        if value is None or (required and value == ""):
            if required:
                raise MissingParameter(f"The request must contain the parameter "
                                       f"{self._name(name)}")
            return None
        if max_len and len(value) > max_len:
            raise InvalidParameterValue(f"Value for parameter {self._name(name)} is longer "
                                        f"than {max_len} characters.")
        allowed = tuple(choices)
        if allowed and value not in allowed:
            raise InvalidParameterValue(
                f"Value ({value[:100]}) for parameter {self._name(name)} is invalid. "
                f"Valid values: {', '.join(allowed)}.")
        return value

    def required(self, name: str, *, max_len: int = 0) -> str:
        """The string ``name``, which must be given."""
        value = self.text(name, required=True, max_len=max_len)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False, low: int | None = None,
                high: int | None = None) -> int | None:
        """The integer ``name``, within ``low``..``high`` when given."""
        raw = self.text(name, required=required)
        if raw is None:
            return None
        try:
            value = int(raw.strip())
        except ValueError:
            raise InvalidParameterValue(f"Value ({raw[:100]}) for parameter "
                                        f"{self._name(name)} is invalid. Expected an "
                                        "integer.") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if low is not None and high is not None \
                else (f"at least {low}" if low is not None else f"at most {high}")
            raise InvalidParameterValue(f"Value ({value}) for parameter {self._name(name)} "
                                        f"is invalid. Expected a value {bounds}.")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        """``true``/``false`` (any case); ``default`` when absent."""
        raw = self.text(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise InvalidParameterValue(f"Value ({raw[:100]}) for parameter {self._name(name)} "
                                    "is invalid. Expected 'true' or 'false'.")

    def _members(self, name: str) -> list[Params]:
        node = self.children.get(name)
        if node is None:
            return []
        indexed: list[tuple[int, Params]] = []
        for key, member in node.children.items():
            if not key.isdigit() or not 1 <= int(key) <= MAX_INDEX:
                raise InvalidParameterValue(f"The parameter {member.path} is not valid: "
                                            f"list members are numbered from 1.")
            indexed.append((int(key), member))
        return [m for _, m in sorted(indexed, key=lambda pair: pair[0])]

    def strings(self, name: str) -> list[str]:
        """The list ``name.1``, ``name.2``... of strings, in index order (a plain
        ``name=value`` counts as one member, as older tools send single values)."""
        out = [m.value for m in self._members(name) if m.value is not None]
        node = self.children.get(name)
        if node is not None and node.value is not None:
            out.insert(0, node.value)
        return out

    def structs(self, name: str) -> list[Params]:
        """The list ``name.1.*``, ``name.2.*``... of structures, in index order."""
        return self._members(name)
