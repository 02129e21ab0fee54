"""ETag and If-Match for one contact: the ETag is a strong validator made of the contact's id and its row
version (bumped by every write of the contact, whatever route makes it). PUT and DELETE with an If-Match that
names no current ETag get a 412, decided inside the write transaction, on the locked row. Without If-Match
nothing changes (Zoho clients never send it)."""

from __future__ import annotations

from zcontacts.errors import NotFound, PreconditionFailed
from zcontacts.storage.contacts import ContactsRepo

IF_MATCH_HEADER = "if-match"


def etag_of(contact_id: str | int, version: int) -> str:
    """The contact's ETag header value (quoted, strong)."""
    return f'"{contact_id}-{version}"'


def matches(if_match: str, current: str) -> bool:
    """RFC 9110's strong comparison: `*` matches any existing contact; weak tags (W/"…") never match."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or current in tags


def check_if_match(repo: ContactsRepo, organization_id: str, contact_id: str, if_match: str | None) -> None:
    """Inside the write transaction: 404 for no such contact, 412 when If-Match names no current ETag."""
    if if_match is None:
        return
    version = repo.version_for_update(organization_id, contact_id)
    if version is None:
        raise NotFound()
    if not matches(if_match, etag_of(contact_id, version)):
        raise PreconditionFailed()
