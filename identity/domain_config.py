"""Domain-specific configuration: which groups and options a domain may override,
their defaults, and the rules of setting them. No HTTP here.

Only the ``identity`` and ``ldap`` groups may be set, and within them only
Keystone's whitelisted options (``ldap.password`` is kept but never shown).
Strata stores the configuration and answers it; it has no LDAP identity
backend, so every domain's users stay in its own database whatever is set.
A malformed or disallowed configuration is Keystone's InvalidDomainConfig: 403.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity import models as m
from identity.errors import Forbidden, NotFound

# The defaults of the options a domain may override, as Keystone documents them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com",
        "query_scope": "one", "page_size": 0, "alias_dereferencing": "default",
        "debug_level": None, "chase_referrals": None, "connection_timeout": -1,
        "user_tree_dn": None, "user_filter": None, "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn", "user_name_attribute": "sn",
        "user_description_attribute": "description", "user_mail_attribute": "mail",
        "user_pass_attribute": "userPassword", "user_enabled_attribute": "enabled",
        "user_enabled_invert": False, "user_enabled_mask": 0, "user_enabled_default": "True",
        "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None, "group_filter": None,
        "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
        "group_name_attribute": "ou", "group_member_attribute": "member",
        "group_members_are_ids": False, "group_desc_attribute": "description",
        "group_attribute_ignore": [], "group_additional_attribute_mapping": [],
        "group_ad_nesting": False, "tls_cacertfile": None, "tls_cacertdir": None,
        "use_tls": False, "tls_req_cert": "demand", "use_pool": True, "pool_size": 10,
        "pool_retry_max": 3, "pool_retry_delay": 0.1, "pool_connection_timeout": -1,
        "pool_connection_lifetime": 600, "use_auth_pool": True, "auth_pool_size": 100,
        "auth_pool_connection_lifetime": 60,
    },
}
# Options that may be set but are never shown.
SENSITIVE: dict[str, set[str]] = {"identity": set(), "ldap": {"password"}}

Config = dict[str, dict[str, Any]]


class InvalidDomainConfig(Forbidden):
    """Keystone's InvalidDomainConfig (a 403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid domain specific configuration: {reason}")


def check_group(group: str, option: str | None = None) -> None:
    if group not in DEFAULTS:
        raise InvalidDomainConfig(f"Group {group} is not supported for domain specific "
                                  "configurations; only identity and ldap are.")
    if option is not None and option not in DEFAULTS[group] and option not in SENSITIVE[group]:
        raise InvalidDomainConfig(f"Option {option} in group {group} is not supported for "
                                  "domain specific configurations.")


def check_config(config: Any) -> Config:
    """A whole configuration: groups of options, each group and option allowed."""
    if not isinstance(config, dict) or not config:
        raise InvalidDomainConfig("No options specified.")
    for group, options in config.items():
        check_group(group)
        if not isinstance(options, dict) or not options:
            raise InvalidDomainConfig(f"The options of group {group} must be an object "
                                      "of at least one option.")
        for option in options:
            check_group(group, option)
    return config


def stored(s: Session, domain_id: str) -> dict[tuple[str, str], m.DomainConfigOption]:
    rows = s.scalars(select(m.DomainConfigOption).where(
        m.DomainConfigOption.domain_id == domain_id))
    return {(r.group, r.option): r for r in rows}


def shown(s: Session, domain_id: str, group: str | None = None,
          option: str | None = None) -> Config:
    """The domain's configuration without its sensitive options; 404 when (the
    group, or the option) is not set."""
    out: Config = {}
    for (g, o), row in sorted(stored(s, domain_id).items()):
        if o in SENSITIVE.get(g, set()):
            continue
        out.setdefault(g, {})[o] = row.value
    if not out:
        raise NotFound(f"Could not find Domain Config for domain {domain_id}.")
    if group is not None:
        if group not in out or (option is not None and option not in out[group]):
            what = f"option {option} of group {group}" if option else f"group {group}"
            raise NotFound(f"Could not find {what} in the configuration of domain "
                           f"{domain_id}.")
    return out


def replace(s: Session, domain_id: str, config: Config) -> bool:
    """Set the whole configuration; True when the domain had none before."""
    had = bool(stored(s, domain_id))
    s.execute(delete(m.DomainConfigOption).where(m.DomainConfigOption.domain_id == domain_id))
    s.flush()
    for group, options in config.items():
        for option, value in options.items():
            s.add(m.DomainConfigOption(domain_id=domain_id, group=group, option=option,
                                       value=value))
    s.flush()
    return not had


def update(s: Session, domain_id: str, config: Config, group: str | None = None,
           option: str | None = None) -> None:
    """Change set options (and, for a whole group or configuration, add new ones)
    of an existing configuration; a group or option named in the URL must be the
    one in the body, and must already be set."""
    current = stored(s, domain_id)
    if not current:
        raise NotFound(f"Could not find Domain Config for domain {domain_id}.")
    if group is not None and list(config) != [group]:
        raise InvalidDomainConfig(f"Trying to update group {group}, so that, and only "
                                  "that, group must be specified in the config.")
    if option is not None and list(config[group or ""]) != [option]:
        raise InvalidDomainConfig(f"Trying to update option {option} in group {group}, so "
                                  "that, and only that, option must be specified in the "
                                  "config.")
    if group is not None and not any(g == group for g, _ in current):
        raise NotFound(f"Could not find group {group} in the configuration of domain "
                       f"{domain_id}.")
    if option is not None and (group, option) not in current:
        raise NotFound(f"Could not find option {option} of group {group} in the "
                       f"configuration of domain {domain_id}.")
    for g, options in config.items():
        for o, value in options.items():
            row = current.get((g, o))
            if row is None:
                s.add(m.DomainConfigOption(domain_id=domain_id, group=g, option=o,
                                           value=value))
            else:
                row.value = value
    s.flush()


def remove(s: Session, domain_id: str, group: str | None = None,
           option: str | None = None) -> None:
    current = stored(s, domain_id)
    doomed = [row for (g, o), row in current.items()
              if (group is None or g == group) and (option is None or o == option)]
    if not doomed:
        what = "Domain Config" if group is None else (
            f"option {option} of group {group}" if option else f"group {group}")
        raise NotFound(f"Could not find {what} for domain {domain_id}.")
    for row in doomed:
        s.delete(row)


def defaults(group: str | None = None, option: str | None = None) -> dict[str, Any]:
    if group is None:
        return {g: dict(opts) for g, opts in DEFAULTS.items()}
    check_group(group, option)
    if option is not None:
        if option in SENSITIVE[group]:
            raise InvalidDomainConfig(f"Reading the default of sensitive option {option} "
                                      "is not allowed.")
        return {option: DEFAULTS[group][option]}
    return {group: dict(DEFAULTS[group])}
