"""Zoho envelopes as bytes: stored contact JSON is spliced in raw, never decoded and re-encoded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Response

from zcontacts.domain.schemas import encode

JSON = "application/json;charset=UTF-8"


def json_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    """A JSON response carrying ready bytes."""
    return Response(content=body, status_code=status, media_type=JSON, headers=dict(headers or {}))


def message_body(code: int, message: str) -> bytes:
    """`{"code": …, "message": …}`."""
    return encode({"code": code, "message": message})


def with_contact(message: str, contact_doc: bytes) -> bytes:
    """`{"code": 0, "message": …, "contact": <stored JSON>}`."""
    return b'{"code":0,"message":' + encode(message) + b',"contact":' + contact_doc + b"}"


def with_object(message: str, key: str, value: object) -> bytes:
    """`{"code": 0, "message": …, <key>: <value>}` for the sub-resources."""
    return b'{"code":0,"message":' + encode(message) + b',"' + key.encode() + b'":' + encode(value) + b"}"


def with_items(key: str, items: list[Any], page: int, per_page: int, has_more: bool) -> bytes:
    """`{"code": 0, "message": "success", <key>: [...], "page_context": {page, per_page, has_more_page}}`."""
    return encode(
        {
            "code": 0,
            "message": "success",
            key: items,
            "page_context": {"page": page, "per_page": per_page, "has_more_page": has_more},
        }
    )


def with_list(key: str, rows: list[bytes], page_context: bytes) -> bytes:
    """`{"code": 0, "message": "success", <key>: [<stored rows>], "page_context": {…}}`."""
    return (
        b'{"code":0,"message":"success","'
        + key.encode()
        + b'":['
        + b",".join(rows)
        + b'],"page_context":'
        + page_context
        + b"}"
    )
