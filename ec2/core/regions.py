"""Regions and availability zones: this cloud's one region, and the zones its block
store (and compute, once it runs) offer."""

from __future__ import annotations

import logging

from common.errors import StrataError
from ec2.core import filters
from ec2.core.context import Body, Ctx
from ec2.errors import InvalidParameterValue
from ec2.params import Params

log = logging.getLogger(__name__)

REGION_FILTERS = ("endpoint", "opt-in-status", "region-name")
ZONE_FILTERS = ("group-name", "message", "opt-in-status", "region-name", "state", "zone-id",
                "zone-name", "zone-type", "parent-zone-id", "parent-zone-name")


async def describe_regions(ctx: Ctx, p: Params) -> Body:
    found = filters.parse(p, REGION_FILTERS, tagged=False)
    region = ctx.settings.region
    for name in p.strings("RegionName"):
        if name != region:
            raise InvalidParameterValue(f"Invalid region: {name}")
    item = {"regionName": region, "regionEndpoint": ctx.settings.endpoint,
            "optInStatus": "opt-in-not-required"}
    fields = {"region-name": region, "endpoint": ctx.settings.endpoint,
              "opt-in-status": "opt-in-not-required"}
    return {"regionInfo": [item] if filters.matches(found, fields) else []}


def zone_id(region: str, zone: str) -> str:
    """A zone's id (EC2's ``use1-az1`` form: region and zone, lower case)."""
    return f"{region.lower()}-{zone.lower()}"


async def zone_names(ctx: Ctx) -> list[str]:
    """The zones of the services that place resources: the configured one, and each the
    block store offers (a service that cannot be asked offers none)."""
    names = {ctx.settings.zone}
    if ctx.cfg.blockstore.enabled:
        try:
            names.update(str(z["zoneName"]) for z in await ctx.volumes.availability_zones()
                         if (z.get("zoneState") or {}).get("available"))
        except StrataError as exc:
            log.warning("ec2: the block store's zones could not be read: %s", exc)
    return sorted(names)


async def describe_availability_zones(ctx: Ctx, p: Params) -> Body:
    found = filters.parse(p, ZONE_FILTERS, tagged=False)
    region = ctx.settings.region
    names = await zone_names(ctx)
    zone_ids = {name: zone_id(region, name) for name in names}
    for name in p.strings("ZoneName"):
        if name not in zone_ids:
            raise InvalidParameterValue(f"The zone '{name}' does not exist.")
    for zid in p.strings("ZoneId"):
        if zid not in zone_ids.values():
            raise InvalidParameterValue(f"The zone ID '{zid}' does not exist.")
    asked = set(p.strings("ZoneName")) | {n for n, z in zone_ids.items()
                                          if z in p.strings("ZoneId")}
    out = []
    for name in names:
        fields = {"zone-name": name, "zone-id": zone_ids[name], "state": "available",
                  "region-name": region, "group-name": region, "zone-type": "availability-zone",
                  "opt-in-status": "opt-in-not-required", "message": []}
        if (asked and name not in asked) or not filters.matches(found, fields):
            continue
        out.append({"zoneName": name, "zoneId": zone_ids[name], "zoneState": "available",
                    "regionName": region, "groupName": region,
                    "networkBorderGroup": region, "zoneType": "availability-zone",
                    "optInStatus": "opt-in-not-required", "messageSet": []})
    return {"availabilityZoneInfo": out}


ACTIONS = {"DescribeRegions": describe_regions,
           "DescribeAvailabilityZones": describe_availability_zones}
