"""A Python client of the Zoho Customers API, for Zoho itself or a zcontacts server.

from zcontacts.client import Client
with Client("http://127.0.0.1:8000", organization_id="10234695", token="1000.…") as zoho:
    contact = zoho.create_contact({"contact_name": "Kenny Digital"})
    for row in zoho.iter_contacts(search_text="kenny"):
        print(row.contact_id, row.contact_name)
"""

from zcontacts.client._core import DEFAULT_BASE_URL, RetryPolicy
from zcontacts.client.aio import AsyncClient
from zcontacts.client.errors import (
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
    OAuthError,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
    ZohoAPIError,
)
from zcontacts.client.sync import Client

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "MethodNotAllowed",
    "NotFound",
    "OAuthError",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "Unauthorized",
    "UnexpectedResponse",
    "ZohoAPIError",
]
