"""Tables and indexes. Every tenant table carries organization_id and every query filters on it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# What a filter's index carries after its key: the status and the sorts' keys, so that a listing by that filter
# sorts index entries alone (migration 0013). Name order first, but for email, whose sort walks (email, id). Not
# the time of the last change, which every update writes: it would rewrite all four indexes (+11 % CPU an update).
_SORTS = ("status", "created_at_ms")
_FILTER_INDEXES = {
    "first_name_key": ("contact_name_key", *_SORTS, "contact_id", "company_name_key", "email_key"),
    "last_name_key": ("contact_name_key", *_SORTS, "contact_id", "company_name_key", "email_key"),
    "phone_key": ("contact_name_key", *_SORTS, "contact_id", "company_name_key", "email_key"),
    # The email order's walked index too: every filter key (migration 0015).
    "email_key": ("contact_id", "contact_name_key", *_SORTS, "company_name_key", "first_name_key", "last_name_key",
                  "phone_key", "search_key"),
}  # fmt: skip
# Each order's walked index carries the status and every filter's key after (sort key, id), so a filter's page
# can walk it in order and test each entry on it alone (migrations 0014 and 0015, storage/walk_plan.py); and the
# search key, so a search's walk can too (0012 for the name order, 0016 for the others).
WALKED_KEYS = (
    "status",
    "contact_name_key",
    "company_name_key",
    "first_name_key",
    "last_name_key",
    "email_key",
    "phone_key",
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Keys compared byte-wise on PostgreSQL too, so prefix ranges and sort order match SQLite's exactly.
Key = String().with_variant(String(collation="C"), "postgresql")

id_sequences = Table(
    "id_sequences",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("organization_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("currency_id", BigInteger, nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("currency_symbol", String(10), nullable=False),
    Column("price_precision", Integer, nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", BigInteger, primary_key=True, autoincrement=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column(
        "organization_id",
        BigInteger,
        ForeignKey("organizations.organization_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("scopes", String(1000), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=True),
    Column("revoked_at_ms", BigInteger, nullable=True),
    # Set for access tokens issued by /oauth/v2/token: revoking the refresh token revokes them too.
    Column("client_id", String(64), nullable=True),
    Column("refresh_token_hash", String(64), nullable=True, index=True),
)

# The keys SQLite's FTS5 trigram index holds (contacts_fts, beside the table; migrations 0004 and 0007, which
# keep their own copy): the search's and every substring filter's.
TRIGRAM_KEYS = (
    "contact_name_key",
    "company_name_key",
    "email_key",
    "phone_key",
    "first_name_key",
    "last_name_key",
    "search_key",
)

contacts = Table(
    "contacts",
    metadata,
    Column("contact_id", BigInteger, primary_key=True, autoincrement=False),
    Column(
        "organization_id",
        BigInteger,
        ForeignKey("organizations.organization_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("contact_name", String(200), nullable=False),
    Column("contact_name_key", Key, nullable=False),
    Column("company_name", String(200), nullable=False),
    Column("company_name_key", Key, nullable=False),
    Column("first_name_key", Key, nullable=False),
    Column("last_name_key", Key, nullable=False),
    Column("email_key", Key, nullable=False),
    Column("phone_key", Key, nullable=False),
    # name, company, email and phone joined by \x1f: what search_text looks into.
    Column("search_key", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("website", String(255), nullable=False),
    Column("twitter", String(100), nullable=False),
    Column("facebook", String(100), nullable=False),
    Column("notes", Text, nullable=False),
    Column("primary_contact_id", BigInteger, nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    # The rendered contact and list row, written with the rows above by ContactsRepo so reads serve bytes.
    Column("doc", LargeBinary, nullable=False),
    Column("summary_doc", LargeBinary, nullable=False),
    # The whole ContactRecord (full and additional addresses too): what an update starts from.
    Column("state_doc", LargeBinary, nullable=True),
    # Bumped by every write of the contact: its ETag (migration 0003).
    Column("version", BigInteger, nullable=False, server_default="1"),
    UniqueConstraint("organization_id", "contact_name_key"),
    # The company order's walked index on SQLite (migration 0015); PostgreSQL keeps the narrow one, which its
    # planner takes for the company sort where the wide one would make it sort instead.
    Index(None, "organization_id", "company_name_key", "contact_id").ddl_if(dialect="postgresql"),
    Index(
        "ix_contacts_by_company",
        "organization_id",
        "company_name_key",
        "contact_id",
        *(key for key in WALKED_KEYS if key != "company_name_key"),
        "search_key",
    ).ddl_if(dialect="sqlite"),
    # PostgreSQL: a filtered page's walk in name or company order reads the page's ids from these alone (an
    # index-only scan), then their rows (migration 0017; ContactsRepo.walk_statement).
    Index(
        "ix_contacts_walk_name",
        "organization_id",
        "contact_name_key",
        postgresql_include=[
            "contact_id",
            *(key for key in WALKED_KEYS if key != "contact_name_key"),
            "search_key",
        ],
    ).ddl_if(dialect="postgresql"),
    Index(
        "ix_contacts_walk_company",
        "organization_id",
        "company_name_key",
        "contact_id",
        postgresql_include=[*(key for key in WALKED_KEYS if key != "company_name_key"), "search_key"],
    ).ddl_if(dialect="postgresql"),
    # A company's customers in name order, the default sort (migration 0005); on SQLite in the covering
    # form below (migration 0006).
    Index(None, "organization_id", "company_name_key", "contact_name_key").ddl_if(dialect="postgresql"),
    # SQLite: list pages in name order, all customers or a company's, read from the index alone (0006); a
    # search walking the name order tests each entry's search key (0012), a filter its key (0015).
    Index(
        "ix_contacts_name_pages",
        "organization_id",
        "contact_name_key",
        "contact_id",
        "search_key",
        *(key for key in WALKED_KEYS if key != "contact_name_key"),
        "summary_doc",
    ).ddl_if(dialect="sqlite"),
    Index(
        "ix_contacts_company_pages",
        "organization_id",
        "company_name_key",
        "contact_name_key",
        "contact_id",
        "summary_doc",
    ).ddl_if(dialect="sqlite"),
    *(
        Index(f"ix_contacts_by_{key.removesuffix('_key')}", "organization_id", key, *carried)
        for key, carried in _FILTER_INDEXES.items()
    ),
    Index(
        "ix_contacts_by_creation",
        "organization_id",
        "created_at_ms",
        "contact_id",
        *WALKED_KEYS,
        "search_key",
    ),
    Index(
        "ix_contacts_by_change", "organization_id", "updated_at_ms", "contact_id", *WALKED_KEYS, "search_key"
    ),
    # A status listing reads in (sort key, id) order from one of these, whatever its sort (migration perf1).
    Index(None, "organization_id", "status", "contact_name_key", "contact_id"),
    Index(None, "organization_id", "status", "company_name_key", "contact_id"),
    Index(None, "organization_id", "status", "email_key", "contact_id"),
    Index(None, "organization_id", "status", "created_at_ms", "contact_id"),
    Index(None, "organization_id", "status", "updated_at_ms", "contact_id"),
)

contact_addresses = Table(
    "contact_addresses",
    metadata,
    Column("address_id", BigInteger, primary_key=True, autoincrement=False),
    Column("contact_id", BigInteger, ForeignKey("contacts.contact_id", ondelete="CASCADE"), nullable=False),
    Column("organization_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # billing | shipping | additional
    Column("attention", String(100), nullable=False),
    Column("address", String(500), nullable=False),
    Column("street2", String(255), nullable=False, server_default=""),
    Column("state_code", String(100), nullable=False, server_default=""),
    Column("city", String(100), nullable=False),
    Column("state", String(100), nullable=False),
    Column("zip", String(50), nullable=False),
    Column("country", String(100), nullable=False),
    Column("fax", String(50), nullable=False),
    Column("phone", String(50), nullable=False, server_default=""),
    Index(None, "contact_id"),
)

contact_persons = Table(
    "contact_persons",
    metadata,
    Column("contact_person_id", BigInteger, primary_key=True, autoincrement=False),
    Column("contact_id", BigInteger, ForeignKey("contacts.contact_id", ondelete="CASCADE"), nullable=False),
    Column("organization_id", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("salutation", String(25), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(100), nullable=False),
    Column("phone", String(50), nullable=False),
    Column("mobile", String(50), nullable=False),
    Column("department", String(50), nullable=False),
    Column("designation", String(100), nullable=False),
    Column("skype", String(50), nullable=False),
    Column("fax", String(50), nullable=False),
    Column("can_invite", Boolean, nullable=False),
    Column("is_primary_contact", Boolean, nullable=False),
    Index(None, "contact_id"),
)

contact_custom_fields = Table(
    "contact_custom_fields",
    metadata,
    Column("contact_id", BigInteger, ForeignKey("contacts.contact_id", ondelete="CASCADE"), primary_key=True),
    Column("customfield_id", String(100), primary_key=True),
    Column("organization_id", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("value_json", Text, nullable=False),
)

# History outlives its contact (no foreign key): operators can read what happened to a deleted customer.
contact_history = Table(
    "contact_history",
    metadata,
    Column("history_id", BigInteger, primary_key=True, autoincrement=False),
    Column("organization_id", BigInteger, nullable=False),
    Column("contact_id", BigInteger, nullable=False),
    Column("contact_name", String(200), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor_name", String(200), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("changed_fields", Text, nullable=False),  # JSON list of field names
    Index(None, "organization_id", "contact_id", "history_id"),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column(
        "organization_id",
        BigInteger,
        ForeignKey("organizations.organization_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("secret_hash", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scopes", String(1000), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

oauth_grant_codes = Table(
    "oauth_grant_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column(
        "client_id", String(64), ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), nullable=False
    ),
    Column("scopes", String(1000), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("used_at_ms", BigInteger, nullable=True),
)

oauth_refresh_tokens = Table(
    "oauth_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "client_id", String(64), ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), nullable=False
    ),
    Column("organization_id", BigInteger, nullable=False),
    Column("scopes", String(1000), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
)

# The first reply to a POST/PUT sent with an Idempotency-Key, stored in the transaction of the change it
# replays; rows older than 24 hours are ignored and purged (migration 0003).
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("organization_id", BigInteger, primary_key=True, autoincrement=False),
    Column("idempotency_key", String(255), primary_key=True),
    Column("operation", String(300), nullable=False),  # method and path, e.g. "PUT /expense/v1/contacts/1"
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("response_headers", Text, nullable=False, server_default="{}"),  # JSON object (ETag, …)
    Column("created_at_ms", BigInteger, nullable=False),
    Index(None, "organization_id", "created_at_ms"),
)
