"""Key pairs: compute's (``/os-keypairs``), the caller's own, with the caller's token.

A key pair is named by its name, as in EC2; its ``key-`` id names the pair
``<user>/<name>`` (a key pair is its user's in compute), so a pair deleted and made
again under the same name keeps its id. ``CreateKeyPair`` returns the private key
compute generated, once; ``ImportKeyPair`` takes the public key base64-encoded, as
EC2 does.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from common.errors import BadRequest, Conflict, NotFound
from ec2.core import describe, filters, ids, tags
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item
from ec2.errors import (
    Duplicate,
    InvalidParameterValue,
    MissingParameter,
    ResourceNotFound,
    native_message,
)
from ec2.params import Params

KEY_PAIR_FILTERS = ("fingerprint", "key-name", "key-pair-id", "key-type")
MAX_NAME = 255
# What Nova takes as a key pair's name (letters, digits, ``_ - .`` and spaces).
_NAME = re.compile(r"[A-Za-z0-9_. -]+")


def _missing(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"The key pair '{name}' does not exist", "InvalidKeyPair.NotFound")


def _name(p: Params) -> str:
    name = p.required("KeyName", max_len=MAX_NAME)
    if not _NAME.fullmatch(name) or not name.strip():
        raise InvalidParameterValue(f"Value ({name[:100]}) for parameter KeyName is invalid: "
                                    "letters, digits, spaces and '_-.' only")
    return name


def _uuid(ctx: Ctx, name: str) -> str:
    return f"{ctx.caller.user_id}/{name}"


def _key_type(public_key: str) -> str:
    return "ed25519" if public_key.startswith("ssh-ed25519") else "rsa"


async def _create(ctx: Ctx, name: str, public_key: str | None) -> dict[str, Any]:
    try:
        return await ctx.compute.create_keypair(name, public_key)
    except Conflict:
        raise Duplicate(f"The keypair '{name}' already exists.",
                        "InvalidKeyPair.Duplicate") from None
    except BadRequest as exc:
        if public_key is None:
            raise
        raise InvalidParameterValue(f"Key is not in valid OpenSSH public key format: "
                                    f"{native_message(exc)}", "InvalidKey.Format") from None


def _created(ident: str, name: str, made: dict[str, Any], pairs: tags.Pairs) -> Body:
    return {"keyName": name, "keyFingerprint": made.get("fingerprint"), "keyPairId": ident,
            "tagSet": tags.tag_set(dict(pairs))}


async def _tag(ctx: Ctx, ident: str, pairs: tags.Pairs) -> None:
    if pairs:
        await ctx.run(lambda s: tags.put(s, ctx.project, ident, "key-pair", pairs))


async def create_key_pair(ctx: Ctx, p: Params) -> Body:
    name = _name(p)
    key_type = p.text("KeyType") or "rsa"
    if key_type != "rsa":
        raise InvalidParameterValue(f"Value ({key_type[:32]}) for parameter KeyType is "
                                    "invalid: this cloud generates rsa key pairs (import "
                                    "an ed25519 key with ImportKeyPair)")
    key_format = p.text("KeyFormat") or "pem"
    if key_format != "pem":
        raise InvalidParameterValue("Only KeyFormat pem is offered by this cloud.")
    pairs = tags.specifications(p, "key-pair")
    made = await _create(ctx, name, None)
    ident = await ctx.id_of(ids.KEY_PAIR, _uuid(ctx, name))
    await _tag(ctx, ident, pairs)
    return {**_created(ident, name, made, pairs), "keyMaterial": made.get("private_key")}


def _public_key(p: Params) -> str:
    raw = p.required("PublicKeyMaterial")
    try:
        text = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, ValueError):
        # botocore base64-encodes the blob; a raw key line given as is is taken too
        text = raw
    text = text.strip()
    if not text or "\n" in text:
        raise InvalidParameterValue("Key is not in valid OpenSSH public key format",
                                    "InvalidKey.Format")
    return text


async def import_key_pair(ctx: Ctx, p: Params) -> Body:
    name = _name(p)
    public = _public_key(p)
    pairs = tags.specifications(p, "key-pair")
    made = await _create(ctx, name, public)
    ident = await ctx.id_of(ids.KEY_PAIR, _uuid(ctx, name))
    await _tag(ctx, ident, pairs)
    return _created(ident, name, made, pairs)


async def describe_key_pairs(ctx: Ctx, p: Params) -> Body:
    names = p.strings("KeyName")
    wanted = [ids.KEY_PAIR.check(v) for v in p.strings("KeyPairId")]
    found = filters.parse(p, KEY_PAIR_FILTERS)
    listed = await ctx.compute.list_keypairs()
    seen = await describe.see(ctx, {ids.KEY_PAIR: {_uuid(ctx, k["name"]): "key"
                                                   for k in listed}},
                              tagged=[ids.KEY_PAIR], complete=ids.KEY_PAIR)
    present = {k["name"] for k in listed}
    for name in names:
        if name not in present:
            raise _missing(name)
    items = []
    for k in listed:
        if names and k["name"] not in names:
            continue
        ident = seen.id(ids.KEY_PAIR, _uuid(ctx, k["name"])) or ""
        key_type = _key_type(str(k.get("public_key", "")))
        item_tags = seen.tags_of(ident)
        view = {"keyPairId": ident, "keyName": k["name"],
                "keyFingerprint": k.get("fingerprint"), "keyType": key_type,
                "tagSet": tags.tag_set(item_tags)}
        if p.boolean("IncludePublicKey"):
            view["publicKey"] = k.get("public_key")
        fields = {"key-pair-id": ident, "key-name": k["name"],
                  "fingerprint": k.get("fingerprint"), "key-type": key_type}
        items.append(Item(ident, view, fields, item_tags))
    return describe.answer(items, "keySet", kind=ids.KEY_PAIR, wanted=wanted, found=found)


async def delete_key_pair(ctx: Ctx, p: Params) -> Body:
    """Delete by name or ``KeyPairId``; as EC2, a name that names no key pair is no
    error (an unknown ``KeyPairId`` is)."""
    name = p.text("KeyName")
    key_id = p.text("KeyPairId")
    if key_id is not None:
        uuid = await ctx.resolve(ids.KEY_PAIR, key_id)
        owner, _, name = uuid.partition("/")
        if owner != ctx.caller.user_id:
            raise ids.KEY_PAIR.missing(key_id)
    if not name:
        raise MissingParameter("The request must contain the parameter KeyName or "
                               "KeyPairId")
    try:
        await ctx.compute.delete_keypair(name)
    except NotFound:
        if key_id is not None:
            raise ids.KEY_PAIR.missing(key_id) from None
        return {"return": True}
    ident = await ctx.id_of(ids.KEY_PAIR, _uuid(ctx, name))
    await ctx.run(lambda s: tags.forget(s, [ident]))
    return {"return": True, "keyPairId": ident}


ACTIONS = {
    "CreateKeyPair": create_key_pair, "ImportKeyPair": import_key_pair,
    "DescribeKeyPairs": describe_key_pairs, "DeleteKeyPair": delete_key_pair,
}
