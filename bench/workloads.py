"""What each workload sends, per target dialect: zcontacts and the limit speak the Zoho API, Prism mocks it
(same requests), json-server has its own REST conventions for the same operations. Pure data, unit-tested."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

ZOHO = "zoho"  # zcontacts, the limit and Prism
JSON_SERVER = "json-server"
PATH = "/expense/v1/contacts"
JSON_SERVER_PATH = "/contacts"

WRITE_WORKLOADS = ("create", "update", "delete")
LIST_WORKLOADS = ("list", "list_filter", "list_search", "list_page50", "list_deep")
WORKLOADS = (
    "create",
    "get",
    "list",
    "list_filter",
    "list_search",
    "list_page50",
    "list_deep",
    "update",
    "delete",
)
DESCRIPTIONS = {
    "create": "POST a new customer (unique name per request)",
    "get": "GET one customer by id (1,000 ids, rotating)",
    "list": "GET the default page (200 rows, by name)",
    "list_filter": "GET ?company_name=… (100 companies, rotating)",
    "list_search": "GET ?search_text=… (a substring of a name, 200 terms, rotating)",
    "list_page50": "GET ?page=50",
    "list_deep": "GET the last page (page 5,000 of 1,000,000)",
    "update": "PUT notes and a billing zip (rotating over the run's own customers)",
    "delete": "DELETE a customer (each request a different one of the run's own customers)",
}
PLACEHOLDER = "__N__"  # replaced per request by a unique tag (wrk thread, counter)

CREATE_BODY = (
    '{"contact_name":"Bench __N__","company_name":"Bench Works","website":"bench.example.com",'
    '"billing_address":{"address":"3500, Bayshore","city":"San Francisco","state":"CA","zip":"94010",'
    '"country":"USA"},"contact_persons":[{"salutation":"Mr.","first_name":"Ken","last_name":"Bench",'
    '"email":"ken.__N__@bench.example.com","is_primary_contact":true}],'
    '"custom_fields":[{"customfield_id":"46000000012845","value":"Normal"}]}'
)
UPDATE_BODY = '{"notes":"updated __N__","billing_address":{"zip":"94011"}}'


@dataclass(frozen=True)
class Plan:
    """The requests of one workload against one target: wrk rotates over `paths`."""

    method: str
    paths: list[str]
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200


@dataclass(frozen=True)
class Inputs:
    """What the workloads address: ids, companies and search terms of the loaded data."""

    count: int
    organization_id: str
    token: str
    sample_ids: list[str]
    companies: list[str]
    search_terms: list[str]
    update_ids: list[str] = field(default_factory=list)
    delete_ids: list[str] = field(default_factory=list)


def last_page(count: int, per_page: int = 200) -> int:
    """The page number of the last page of `count` rows."""
    return max(1, math.ceil(count / per_page))


def zoho_headers(inputs: Inputs) -> dict[str, str]:
    """Zoho's two headers."""
    return {
        "Authorization": f"Zoho-oauthtoken {inputs.token}",
        "X-com-zoho-expense-organizationid": inputs.organization_id,
    }


def plan(dialect: str, workload: str, inputs: Inputs) -> Plan:
    """The requests of `workload` in `dialect`."""
    if dialect == JSON_SERVER:
        return _json_server(workload, inputs)
    headers = zoho_headers(inputs)
    body_headers = {**headers, "Content-Type": "application/json"}
    if workload == "create":
        return Plan("POST", [PATH], CREATE_BODY, body_headers, expect=201)
    if workload == "get":
        return Plan("GET", [f"{PATH}/{i}" for i in inputs.sample_ids], headers=headers)
    if workload == "update":
        return Plan("PUT", [f"{PATH}/{i}" for i in inputs.update_ids], UPDATE_BODY, body_headers)
    if workload == "delete":
        return Plan("DELETE", [f"{PATH}/{i}" for i in inputs.delete_ids], headers=headers)
    return Plan("GET", [f"{PATH}{_query(q)}" for q in _list_queries(workload, inputs)], headers=headers)


def _list_queries(workload: str, inputs: Inputs) -> list[dict[str, str]]:
    if workload == "list":
        return [{}]
    if workload == "list_filter":
        return [{"company_name": c} for c in inputs.companies]
    if workload == "list_search":
        return [{"search_text": t} for t in inputs.search_terms]
    if workload == "list_page50":
        return [{"page": "50"}]
    if workload == "list_deep":
        return [{"page": str(last_page(inputs.count))}]
    raise ValueError(f"unknown workload {workload!r}")


def _query(params: dict[str, str]) -> str:
    return "?" + urlencode(params, quote_via=quote) if params else ""


def _json_server(workload: str, inputs: Inputs) -> Plan:
    """json-server's spelling of the same operations (`--id contact_id`, PATCH merges like our PUT)."""
    headers = {"Content-Type": "application/json"}
    page = {"_sort": "contact_name", "_order": "asc", "_limit": "200"}
    if workload == "create":
        return Plan("POST", [JSON_SERVER_PATH], CREATE_BODY, headers, expect=201)
    if workload == "get":
        return Plan("GET", [f"{JSON_SERVER_PATH}/{i}" for i in inputs.sample_ids])
    if workload == "update":
        return Plan("PATCH", [f"{JSON_SERVER_PATH}/{i}" for i in inputs.update_ids], UPDATE_BODY, headers)
    if workload == "delete":
        return Plan("DELETE", [f"{JSON_SERVER_PATH}/{i}" for i in inputs.delete_ids])
    queries = {
        "list": [{**page, "_page": "1"}],
        "list_filter": [{"company_name": c, **page, "_page": "1"} for c in inputs.companies],
        "list_search": [{"q": t, **page, "_page": "1"} for t in inputs.search_terms],
        "list_page50": [{**page, "_page": "50"}],
        "list_deep": [{**page, "_page": str(last_page(inputs.count))}],
    }[workload]
    return Plan("GET", [f"{JSON_SERVER_PATH}{_query(q)}" for q in queries])
