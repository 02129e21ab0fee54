"""Client and AsyncClient against a real `zcontacts serve` process: every operation, errors, OAuth."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator

import pytest

from tests.e2e.server import Server, zcontacts
from tests.helpers import reference
from zcontacts.client import AsyncClient, BadRequest, Client, NotFound, OAuthError, Unauthorized
from zcontacts.client.models import AddressIn, ContactCreate, ContactPersonIn

pytestmark = [
    pytest.mark.e2e,
    # An httpx connection may be collected after its test on a loaded machine (see tests/e2e/conftest.py).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("client-server")
    # Token lookups are not reused, so a revoked token is refused at once.
    running = Server(
        database_url=f"sqlite:///{workdir / 'zcontacts.db'}",
        workdir=workdir,
        env={"ZCONTACTS_TOKEN_CACHE_SECONDS": "0"},
    ).start()
    yield running
    running.stop()
    # Collect any connection httpx left to the garbage collector now, while this module ignores its warning,
    # rather than in a later test that does not.
    gc.collect()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    organization_id, token = server.credentials()
    with Client(server.url, organization_id=organization_id, token=token, timeout=30) as zoho:
        yield zoho
        for row in list(zoho.iter_contacts()):
            zoho.delete_contact(row.contact_id)


def test_the_five_operations_and_typed_results(client: Client) -> None:
    created = client.create_contact(reference("create_request"))
    assert created.contact_name == reference("create_request")["contact_name"]
    assert created.billing_address.city == reference("create_request")["billing_address"]["city"]
    assert client.get_contact(created.contact_id) == created
    updated = client.update_contact(created.contact_id, {"notes": "from the client"})
    assert updated.notes == "from the client"
    assert updated.created_time == created.created_time
    page = client.list_contacts(search_text=created.contact_name[:5])
    assert [c.contact_id for c in page.contacts] == [created.contact_id]
    assert page.page_context.search_text.casefold() == created.contact_name[:5].casefold()
    client.delete_contact(created.contact_id)
    with pytest.raises(NotFound) as caught:
        client.get_contact(created.contact_id)
    assert (caught.value.code, caught.value.status) == (1002, 404)


def test_iter_contacts_walks_every_page_with_the_filters(client: Client) -> None:
    for n in range(5):
        client.create_contact(ContactCreate(contact_name=f"Walker {n}", company_name="Walk Co"))
    client.create_contact({"contact_name": "Other", "company_name": "Elsewhere"})
    names = [c.contact_name for c in client.iter_contacts(per_page=2, company_name="Walk Co")]
    assert names == [f"Walker {n}" for n in range(5)]


def test_refusals_carry_zohos_code(client: Client, server: Server) -> None:
    client.create_contact({"contact_name": "Twice"})
    with pytest.raises(BadRequest) as duplicate:
        client.create_contact({"contact_name": "twice"})
    assert duplicate.value.code == 3062
    with pytest.raises(BadRequest) as bad_email:
        client.create_contact({"contact_name": "Mail", "email": "not-an-address"})
    assert (bad_email.value.code, "email" in bad_email.value.message) == (2, True)
    organization_id, _ = server.credentials()
    with Client(server.url, organization_id=organization_id, token="1000.nope") as stranger:
        with pytest.raises(Unauthorized) as refused:
            stranger.list_contacts()
    assert refused.value.code == 57


def test_status_history_persons_and_addresses(client: Client) -> None:
    contact = client.create_contact(
        ContactCreate(
            contact_name="Parts",
            contact_persons=[
                ContactPersonIn(first_name="Ann", email="ann@parts.io", is_primary_contact=True)
            ],
        )
    )
    client.mark_inactive(contact.contact_id)
    assert [c.contact_id for c in client.iter_contacts(filter_by="Status.Inactive")] == [contact.contact_id]
    client.mark_active(contact.contact_id)
    assert client.get_contact(contact.contact_id).status == "active"

    bob = client.create_contact_person({"contact_id": contact.contact_id, "first_name": "Bob"})
    assert client.get_contact_person(contact.contact_id, bob.contact_person_id).first_name == "Bob"
    assert client.update_contact_person(bob.contact_person_id, {"last_name": "Lee"}).last_name == "Lee"
    client.mark_primary_contact_person(bob.contact_person_id)
    assert client.get_contact(contact.contact_id).primary_contact_id == bob.contact_person_id
    persons = client.list_contact_persons(contact.contact_id)
    assert {p.first_name for p in persons.contact_persons} == {"Ann", "Bob"}
    client.delete_contact_person(bob.contact_person_id)
    assert client.get_contact(contact.contact_id).first_name == "Ann"

    depot = client.create_address(contact.contact_id, AddressIn(address="1 Depot Rd", city="Leeds"))
    assert client.update_address(contact.contact_id, depot.address_id, {"zip": "LS1"}).zip == "LS1"
    addresses = client.list_addresses(contact.contact_id)
    assert [a.address_id for a in addresses][2:] == [depot.address_id]
    client.delete_address(contact.contact_id, depot.address_id)
    assert len(client.list_addresses(contact.contact_id)) == 2

    history = list(client.iter_comments(contact.contact_id, per_page=3))
    operations = [entry.operation_type for entry in history]
    assert operations[-1] == "created"
    assert "marked_inactive" in operations
    assert len(history) > 3  # more than one page


def test_books_flavour(server: Server, client: Client) -> None:
    organization_id, token = server.credentials()
    with Client(server.url, organization_id=organization_id, token=token, flavour="books") as books:
        made = books.create_contact({"contact_name": "Booked"})
        assert [c.contact_id for c in books.list_contacts(contact_name="booked").contacts] == [
            made.contact_id
        ]


def test_oauth_credentials_get_and_refresh_tokens_by_themselves(server: Server, client: Client) -> None:
    organization_id, _ = server.credentials()
    made = json.loads(
        zcontacts("clients", "create", "--org", organization_id, database_url=server.database_url).stdout
    )
    with Client(server.url, organization_id=organization_id, token="unused") as bootstrap:
        grant = bootstrap.exchange_code(made["client_id"], made["client_secret"], made["grant_code"], "x")
        with pytest.raises(OAuthError) as reused:
            bootstrap.exchange_code(made["client_id"], made["client_secret"], made["grant_code"], "x")
    assert reused.value.error == "invalid_code"
    with Client(
        server.url,
        organization_id=organization_id,
        client_id=made["client_id"],
        client_secret=made["client_secret"],
        refresh_token=grant.refresh_token,
    ) as oauth:
        oauth.create_contact({"contact_name": "By OAuth"})
        first = oauth.access_token
        assert first
        oauth.revoke_token(first)  # the server now answers 401 code 57 to it
        assert [c.contact_name for c in oauth.iter_contacts(contact_name="by oauth")] == ["By OAuth"]
        assert oauth.access_token not in (None, first)


def test_the_async_client(server: Server, client: Client) -> None:
    organization_id, token = server.credentials()

    async def run() -> list[str]:
        async with AsyncClient(server.url, organization_id=organization_id, token=token) as zoho:
            made = [await zoho.create_contact({"contact_name": f"Async {n}"}) for n in range(3)]
            await zoho.update_contact(made[0].contact_id, {"website": "async.example"})
            assert (await zoho.get_contact(made[0].contact_id)).website == "async.example"
            names = [
                c.contact_name async for c in zoho.iter_contacts(per_page=2, contact_name_startswith="async")
            ]
            await zoho.delete_contact(made[2].contact_id)
            with pytest.raises(NotFound):
                await zoho.get_contact(made[2].contact_id)
            return names

    assert asyncio.run(run()) == ["Async 0", "Async 1", "Async 2"]
