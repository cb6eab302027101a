"""The dashboard's panels: where each page sits in the navigation, which service it
needs in the catalog and which role sees it.

A panel whose service the user's catalog lacks (compute, until it is deployed)
is simply not shown, so a new service's pages slot in by adding their panels
here and their routes in ``views/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.session import Session


@dataclass(frozen=True)
class Panel:
    tab: str  # "project" or "admin" (admins only) or "identity"
    group: str  # heading inside the tab ("" for none)
    title: str
    path: str  # the panel's page; it is current for every path below it
    service: str = ""  # catalog type it needs ("" for none)
    role: str = "reader"  # least role that sees it


PANELS: tuple[Panel, ...] = (
    Panel("project", "", "Overview", "/project/"),
    Panel("project", "Compute", "Instances", "/project/instances/", "compute"),
    Panel("project", "Compute", "Key Pairs", "/project/key_pairs/", "compute"),
    Panel("project", "Volumes", "Volumes", "/project/volumes/", "volumev3"),
    Panel("project", "Volumes", "Snapshots", "/project/snapshots/", "volumev3"),
    Panel("project", "Volumes", "Backups", "/project/backups/", "volumev3"),
    Panel("project", "Volumes", "Transfers", "/project/transfers/", "volumev3"),
    Panel("project", "Images", "Images", "/project/images/", "image"),
    Panel("project", "Network", "Network Topology", "/project/network_topology/", "network"),
    Panel("project", "Network", "Networks", "/project/networks/", "network"),
    Panel("project", "Network", "Routers", "/project/routers/", "network"),
    Panel("project", "Network", "Security Groups", "/project/security_groups/", "network"),
    Panel("project", "Network", "Floating IPs", "/project/floating_ips/", "network"),
    Panel("project", "Object Store", "Containers", "/project/containers/", "object-store"),
    Panel("project", "", "API Access", "/project/api_access/"),
    Panel("admin", "", "Overview", "/admin/", role="admin"),
    Panel("admin", "Compute", "Instances", "/admin/instances/", "compute", "admin"),
    Panel("admin", "Compute", "Hypervisors", "/admin/hypervisors/", "compute", "admin"),
    Panel("admin", "Compute", "Flavors", "/admin/flavors/", "compute", "admin"),
    Panel("admin", "Volumes", "Volumes", "/admin/volumes/", "volumev3", "admin"),
    Panel("admin", "Volumes", "Volume Types", "/admin/volume_types/", "volumev3", "admin"),
    Panel("admin", "", "Images", "/admin/images/", "image", "admin"),
    Panel("admin", "", "Networks", "/admin/networks/", "network", "admin"),
    Panel("admin", "Identity", "Projects", "/admin/projects/", role="admin"),
    Panel("admin", "Identity", "Users", "/admin/users/", role="admin"),
    Panel("admin", "", "Quotas", "/admin/quotas/", role="admin"),
    Panel("admin", "", "System Information", "/admin/info/", role="admin"),
)

TABS = (("project", "Project"), ("admin", "Admin"))


@dataclass(frozen=True)
class NavGroup:
    title: str
    panels: list[tuple[Panel, bool]]  # (panel, is it the current one)


@dataclass(frozen=True)
class Nav:
    tabs: list[tuple[str, str, bool]]  # (tab, title, current)
    groups: list[NavGroup]  # of the current tab
    current: Panel | None


def visible(session: Session, panel: Panel) -> bool:
    if panel.service and session.endpoint(panel.service) is None and not (
            panel.service == "volumev3" and session.endpoint("block-storage")):
        return False
    return session.has_role(panel.role)


def current_panel(path: str) -> Panel | None:
    """The panel whose path is the longest prefix of ``path``."""
    best: Panel | None = None
    for panel in PANELS:
        if path.startswith(panel.path) and (best is None or len(panel.path) > len(best.path)):
            best = panel
    return best


def navigation(session: Session, path: str) -> Nav:
    current = current_panel(path)
    tab = current.tab if current else "project"
    tabs = [(t, title, t == tab) for t, title in TABS
            if any(p.tab == t and visible(session, p) for p in PANELS)]
    groups: list[NavGroup] = []
    for panel in PANELS:
        if panel.tab != tab or not visible(session, panel):
            continue
        if not groups or groups[-1].title != panel.group:
            groups.append(NavGroup(panel.group, []))
        groups[-1].panels.append((panel, panel == current))
    return Nav(tabs, groups, current)
