-- The schema at head, as the migrations build it. Generated: python -m zcontacts.storage.schema_snapshot
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE id_sequences (
	name VARCHAR(50) NOT NULL, 
	next_value BIGINT NOT NULL, 
	CONSTRAINT pk_id_sequences PRIMARY KEY (name)
);
CREATE TABLE organizations (
	organization_id BIGINT NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	currency_id BIGINT NOT NULL, 
	currency_code VARCHAR(3) NOT NULL, 
	currency_symbol VARCHAR(10) NOT NULL, 
	price_precision INTEGER NOT NULL, 
	time_zone VARCHAR(64) NOT NULL, 
	created_at_ms BIGINT NOT NULL, 
	CONSTRAINT pk_organizations PRIMARY KEY (organization_id)
);
CREATE TABLE contacts (
	contact_id BIGINT NOT NULL, 
	organization_id BIGINT NOT NULL, 
	contact_name VARCHAR(200) NOT NULL, 
	contact_name_key VARCHAR NOT NULL, 
	company_name VARCHAR(200) NOT NULL, 
	company_name_key VARCHAR NOT NULL, 
	first_name_key VARCHAR NOT NULL, 
	last_name_key VARCHAR NOT NULL, 
	email_key VARCHAR NOT NULL, 
	phone_key VARCHAR NOT NULL, 
	search_key TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	website VARCHAR(255) NOT NULL, 
	twitter VARCHAR(100) NOT NULL, 
	facebook VARCHAR(100) NOT NULL, 
	notes TEXT NOT NULL, 
	primary_contact_id BIGINT, 
	created_at_ms BIGINT NOT NULL, 
	updated_at_ms BIGINT NOT NULL, 
	doc BLOB NOT NULL, 
	summary_doc BLOB NOT NULL, state_doc BLOB, version BIGINT DEFAULT '1' NOT NULL, 
	CONSTRAINT pk_contacts PRIMARY KEY (contact_id), 
	CONSTRAINT fk_contacts_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (organization_id) ON DELETE CASCADE, 
	CONSTRAINT uq_contacts_organization_id_contact_name_key UNIQUE (organization_id, contact_name_key)
);
CREATE TABLE tokens (
	token_id BIGINT NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	organization_id BIGINT NOT NULL, 
	scopes VARCHAR(1000) NOT NULL, 
	created_at_ms BIGINT NOT NULL, 
	expires_at_ms BIGINT, 
	revoked_at_ms BIGINT, client_id VARCHAR(64), refresh_token_hash VARCHAR(64), 
	CONSTRAINT pk_tokens PRIMARY KEY (token_id), 
	CONSTRAINT fk_tokens_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (organization_id) ON DELETE CASCADE, 
	CONSTRAINT uq_tokens_token_hash UNIQUE (token_hash)
);
CREATE INDEX ix_tokens_organization_id ON tokens (organization_id);
CREATE TABLE contact_addresses (
	address_id BIGINT NOT NULL, 
	contact_id BIGINT NOT NULL, 
	organization_id BIGINT NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	attention VARCHAR(100) NOT NULL, 
	address VARCHAR(500) NOT NULL, 
	city VARCHAR(100) NOT NULL, 
	state VARCHAR(100) NOT NULL, 
	zip VARCHAR(50) NOT NULL, 
	country VARCHAR(100) NOT NULL, 
	fax VARCHAR(50) NOT NULL, street2 VARCHAR(255) DEFAULT '' NOT NULL, state_code VARCHAR(100) DEFAULT '' NOT NULL, phone VARCHAR(50) DEFAULT '' NOT NULL, 
	CONSTRAINT pk_contact_addresses PRIMARY KEY (address_id), 
	CONSTRAINT fk_contact_addresses_contact_id_contacts FOREIGN KEY(contact_id) REFERENCES contacts (contact_id) ON DELETE CASCADE
);
CREATE INDEX ix_contact_addresses_contact_id ON contact_addresses (contact_id);
CREATE TABLE contact_custom_fields (
	contact_id BIGINT NOT NULL, 
	customfield_id VARCHAR(100) NOT NULL, 
	organization_id BIGINT NOT NULL, 
	position INTEGER NOT NULL, 
	value_json TEXT NOT NULL, 
	CONSTRAINT pk_contact_custom_fields PRIMARY KEY (contact_id, customfield_id), 
	CONSTRAINT fk_contact_custom_fields_contact_id_contacts FOREIGN KEY(contact_id) REFERENCES contacts (contact_id) ON DELETE CASCADE
);
CREATE TABLE contact_persons (
	contact_person_id BIGINT NOT NULL, 
	contact_id BIGINT NOT NULL, 
	organization_id BIGINT NOT NULL, 
	position INTEGER NOT NULL, 
	salutation VARCHAR(25) NOT NULL, 
	first_name VARCHAR(100) NOT NULL, 
	last_name VARCHAR(100) NOT NULL, 
	email VARCHAR(100) NOT NULL, 
	phone VARCHAR(50) NOT NULL, 
	mobile VARCHAR(50) NOT NULL, 
	department VARCHAR(50) NOT NULL, 
	designation VARCHAR(100) NOT NULL, 
	skype VARCHAR(50) NOT NULL, 
	fax VARCHAR(50) NOT NULL, 
	can_invite BOOLEAN NOT NULL, 
	is_primary_contact BOOLEAN NOT NULL, 
	CONSTRAINT pk_contact_persons PRIMARY KEY (contact_person_id), 
	CONSTRAINT fk_contact_persons_contact_id_contacts FOREIGN KEY(contact_id) REFERENCES contacts (contact_id) ON DELETE CASCADE
);
CREATE INDEX ix_contact_persons_contact_id ON contact_persons (contact_id);
CREATE TABLE contact_history (
	history_id BIGINT NOT NULL, 
	organization_id BIGINT NOT NULL, 
	contact_id BIGINT NOT NULL, 
	contact_name VARCHAR(200) NOT NULL, 
	at_ms BIGINT NOT NULL, 
	actor_id VARCHAR(64) NOT NULL, 
	actor_name VARCHAR(200) NOT NULL, 
	operation VARCHAR(32) NOT NULL, 
	description TEXT NOT NULL, 
	changed_fields TEXT NOT NULL, 
	CONSTRAINT pk_contact_history PRIMARY KEY (history_id)
);
CREATE INDEX ix_contact_history_organization_id_contact_id_history_id ON contact_history (organization_id, contact_id, history_id);
CREATE TABLE oauth_clients (
	client_id VARCHAR(64) NOT NULL, 
	organization_id BIGINT NOT NULL, 
	secret_hash VARCHAR(64) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	scopes VARCHAR(1000) NOT NULL, 
	created_at_ms BIGINT NOT NULL, 
	CONSTRAINT pk_oauth_clients PRIMARY KEY (client_id), 
	CONSTRAINT fk_oauth_clients_organization_id_organizations FOREIGN KEY(organization_id) REFERENCES organizations (organization_id) ON DELETE CASCADE
);
CREATE INDEX ix_oauth_clients_organization_id ON oauth_clients (organization_id);
CREATE TABLE oauth_grant_codes (
	code_hash VARCHAR(64) NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	scopes VARCHAR(1000) NOT NULL, 
	created_at_ms BIGINT NOT NULL, 
	expires_at_ms BIGINT NOT NULL, 
	used_at_ms BIGINT, 
	CONSTRAINT pk_oauth_grant_codes PRIMARY KEY (code_hash), 
	CONSTRAINT fk_oauth_grant_codes_client_id_oauth_clients FOREIGN KEY(client_id) REFERENCES oauth_clients (client_id) ON DELETE CASCADE
);
CREATE TABLE oauth_refresh_tokens (
	token_hash VARCHAR(64) NOT NULL, 
	client_id VARCHAR(64) NOT NULL, 
	organization_id BIGINT NOT NULL, 
	scopes VARCHAR(1000) NOT NULL, 
	created_at_ms BIGINT NOT NULL, 
	revoked_at_ms BIGINT, 
	CONSTRAINT pk_oauth_refresh_tokens PRIMARY KEY (token_hash), 
	CONSTRAINT fk_oauth_refresh_tokens_client_id_oauth_clients FOREIGN KEY(client_id) REFERENCES oauth_clients (client_id) ON DELETE CASCADE
);
CREATE INDEX ix_tokens_refresh_token_hash ON tokens (refresh_token_hash);
CREATE INDEX ix_contacts_organization_id_status_contact_name_key_contact_id ON contacts (organization_id, status, contact_name_key, contact_id);
CREATE INDEX ix_contacts_organization_id_status_company_name_key_contact_id ON contacts (organization_id, status, company_name_key, contact_id);
CREATE INDEX ix_contacts_organization_id_status_email_key_contact_id ON contacts (organization_id, status, email_key, contact_id);
CREATE INDEX ix_contacts_organization_id_status_created_at_ms_contact_id ON contacts (organization_id, status, created_at_ms, contact_id);
CREATE INDEX ix_contacts_organization_id_status_updated_at_ms_contact_id ON contacts (organization_id, status, updated_at_ms, contact_id);
ANALYZE sqlite_schema;
CREATE TABLE idempotency_keys (
	organization_id BIGINT NOT NULL, 
	idempotency_key VARCHAR(255) NOT NULL, 
	operation VARCHAR(300) NOT NULL, 
	request_hash VARCHAR(64) NOT NULL, 
	status INTEGER NOT NULL, 
	response BLOB NOT NULL, 
	response_headers TEXT DEFAULT '{}' NOT NULL, 
	created_at_ms BIGINT NOT NULL, 
	CONSTRAINT pk_idempotency_keys PRIMARY KEY (organization_id, idempotency_key)
);
CREATE INDEX ix_idempotency_keys_organization_id_created_at_ms ON idempotency_keys (organization_id, created_at_ms);
CREATE INDEX ix_contacts_company_pages ON contacts (organization_id, company_name_key, contact_name_key, contact_id, summary_doc);
CREATE TABLE contacts_fts_pending (seq INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, command TEXT, contact_name_key TEXT NOT NULL, company_name_key TEXT NOT NULL, email_key TEXT NOT NULL, phone_key TEXT NOT NULL, first_name_key TEXT NOT NULL, last_name_key TEXT NOT NULL, search_key TEXT NOT NULL);
CREATE TABLE contacts_fts_upkeep (id INTEGER PRIMARY KEY CHECK (id = 1), cancelled_entries INTEGER NOT NULL);
CREATE VIEW contacts_fts_source AS SELECT contact_id, contact_name_key || char(31, 31) AS contact_name_key, company_name_key || char(31, 31) AS company_name_key, email_key || char(31, 31) AS email_key, phone_key || char(31, 31) AS phone_key, first_name_key || char(31, 31) AS first_name_key, last_name_key || char(31, 31) AS last_name_key, search_key || char(31, 31) AS search_key FROM contacts;
CREATE VIRTUAL TABLE contacts_fts USING fts5(contact_name_key, company_name_key, email_key, phone_key, first_name_key, last_name_key, search_key, content='contacts_fts_source', content_rowid='contact_id', tokenize='trigram', detail=column);
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN INSERT INTO contacts_fts_pending (contact_id, command, contact_name_key, company_name_key, email_key, phone_key, first_name_key, last_name_key, search_key) VALUES (new.contact_id, NULL, new.contact_name_key || char(31, 31), new.company_name_key || char(31, 31), new.email_key || char(31, 31), new.phone_key || char(31, 31), new.first_name_key || char(31, 31), new.last_name_key || char(31, 31), new.search_key || char(31, 31)); END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN INSERT INTO contacts_fts_pending (contact_id, command, contact_name_key, company_name_key, email_key, phone_key, first_name_key, last_name_key, search_key) VALUES (old.contact_id, 'delete', old.contact_name_key || char(31, 31), old.company_name_key || char(31, 31), old.email_key || char(31, 31), old.phone_key || char(31, 31), old.first_name_key || char(31, 31), old.last_name_key || char(31, 31), old.search_key || char(31, 31)); END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF contact_name_key, company_name_key, email_key, phone_key, first_name_key, last_name_key, search_key ON contacts BEGIN INSERT INTO contacts_fts_pending (contact_id, command, contact_name_key, company_name_key, email_key, phone_key, first_name_key, last_name_key, search_key) VALUES (old.contact_id, 'delete', old.contact_name_key || char(31, 31), old.company_name_key || char(31, 31), old.email_key || char(31, 31), old.phone_key || char(31, 31), old.first_name_key || char(31, 31), old.last_name_key || char(31, 31), old.search_key || char(31, 31)); INSERT INTO contacts_fts_pending (contact_id, command, contact_name_key, company_name_key, email_key, phone_key, first_name_key, last_name_key, search_key) VALUES (new.contact_id, NULL, new.contact_name_key || char(31, 31), new.company_name_key || char(31, 31), new.email_key || char(31, 31), new.phone_key || char(31, 31), new.first_name_key || char(31, 31), new.last_name_key || char(31, 31), new.search_key || char(31, 31)); END;
CREATE INDEX ix_contacts_by_first_name ON contacts (organization_id, first_name_key, contact_name_key, status, created_at_ms, contact_id, company_name_key, email_key);
CREATE INDEX ix_contacts_by_last_name ON contacts (organization_id, last_name_key, contact_name_key, status, created_at_ms, contact_id, company_name_key, email_key);
CREATE INDEX ix_contacts_by_phone ON contacts (organization_id, phone_key, contact_name_key, status, created_at_ms, contact_id, company_name_key, email_key);
CREATE INDEX ix_contacts_name_pages ON contacts (organization_id, contact_name_key, contact_id, search_key, status, company_name_key, first_name_key, last_name_key, email_key, phone_key, summary_doc);
CREATE INDEX ix_contacts_by_creation ON contacts (organization_id, created_at_ms, contact_id, status, contact_name_key, company_name_key, first_name_key, last_name_key, email_key, phone_key, search_key);
CREATE INDEX ix_contacts_by_change ON contacts (organization_id, updated_at_ms, contact_id, status, contact_name_key, company_name_key, first_name_key, last_name_key, email_key, phone_key, search_key);
CREATE INDEX ix_contacts_by_company ON contacts (organization_id, company_name_key, contact_id, status, contact_name_key, first_name_key, last_name_key, email_key, phone_key, search_key);
CREATE INDEX ix_contacts_by_email ON contacts (organization_id, email_key, contact_id, contact_name_key, status, created_at_ms, company_name_key, first_name_key, last_name_key, phone_key, search_key);
INSERT INTO "alembic_version" ("version_num") VALUES ('0018');
INSERT INTO "id_sequences" ("name", "next_value") VALUES ('ids', 46000000000000001);
INSERT INTO "id_sequences" ("name", "next_value") VALUES ('organization_ids', 10234695);
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', NULL, '1000000');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_by_change', '1000000 1000000 2 1 1 1 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_by_company', '1000000 1000000 100 1 1 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_by_creation', '1000000 1000000 2 1 1 1 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_by_email', '1000000 1000000 2 1 1 1 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_by_first_name', '1000000 1000000 1000 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_by_last_name', '1000000 1000000 1000 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_by_phone', '1000000 1000000 2 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_company_pages', '1000000 1000000 100 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_name_pages', '1000000 1000000 1 1 1 1 1 1 1 1 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_organization_id_status_company_name_key_contact_id', '1000000 1000000 500000 100 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_organization_id_status_contact_name_key_contact_id', '1000000 1000000 500000 1 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_organization_id_status_created_at_ms_contact_id', '1000000 1000000 500000 2 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_organization_id_status_email_key_contact_id', '1000000 1000000 500000 2 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'ix_contacts_organization_id_status_updated_at_ms_contact_id', '1000000 1000000 500000 2 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'sqlite_autoindex_contacts_1', '1000000 1');
INSERT INTO "sqlite_stat1" ("tbl", "idx", "stat") VALUES ('contacts', 'sqlite_autoindex_contacts_2', '1000000 1000000 1');
INSERT INTO "contacts_fts_upkeep" ("id", "cancelled_entries") VALUES (1, 0);
INSERT OR REPLACE INTO "contacts_fts_data" ("id", "block") VALUES (1, X'0000000000000000');
INSERT OR REPLACE INTO "contacts_fts_data" ("id", "block") VALUES (10, X'00000001000000');
INSERT OR REPLACE INTO "contacts_fts_config" ("k", "v") VALUES ('automerge', 0);
INSERT OR REPLACE INTO "contacts_fts_config" ("k", "v") VALUES ('version', 4);
ANALYZE sqlite_schema;
