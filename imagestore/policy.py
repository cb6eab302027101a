"""Who may do what with an image (Glance's default policy, reduced to its rules).

* An admin may do everything, including making an image public; everyone
  else acts for the project their token is scoped to.
* A project sees its own images, public ones, community ones (listed only
  when asked) and shared ones it is a member of (listed once accepted).
* Only the owner (or an admin) changes an image, (de)activates it or changes
  its member list; a member changes only its own membership status.
* A token with only the ``reader`` role reads, never writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagestore import models as m
from imagestore.errors import Forbidden, NotFound


@dataclass(frozen=True)
class Caller:
    user_id: str
    project_id: str | None
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        return self.is_admin or bool(self.roles - {"reader"})

    def owns(self, image: m.Image) -> bool:
        return self.project_id is not None and image.owner == self.project_id


def member_of(caller: Caller, image: m.Image) -> m.ImageMember | None:
    if caller.project_id is None or image.visibility != "shared":
        return None
    return next((mb for mb in image.members if mb.member == caller.project_id), None)


def can_see(caller: Caller, image: m.Image) -> bool:
    if caller.is_admin or caller.owns(image):
        return True
    if image.visibility in ("public", "community"):
        return True
    return member_of(caller, image) is not None


def check_visible(caller: Caller, image: m.Image | None, image_id: str) -> m.Image:
    """The image, or 404 for one that does not exist or the caller cannot see."""
    if image is None or not can_see(caller, image):
        raise NotFound(f"No image found with ID {image_id}")
    return image


def check_write(caller: Caller) -> None:
    if not caller.can_write:
        raise Forbidden("You are not authorized to complete this action "
                        "(read-only role).")


def check_modify(caller: Caller, image: m.Image) -> None:
    """Changing an image (metadata, data, tags, members): its owner or an admin."""
    check_write(caller)
    if not (caller.is_admin or caller.owns(image)):
        raise Forbidden(f"You are not permitted to modify image {image.id}.")


def check_visibility(caller: Caller, visibility: str) -> None:
    if visibility == "public" and not caller.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action: "
                        "only admins may make an image public.")
