-- Townsquare's SQLite schema at the migrations' head: what SQLite recorded after running
-- them. Written by `python -m core.schema_snapshot`; do not edit by hand.
-- revision: 0015
-- migrations: 0001_gateway_tables.py 0002_sandbox_tables.py 0003_engagement.py 0004_wallets.py 0005_claims.py 0006_miniapps.py 0007_upkeep.py 0008_builder_grants.py 0009_points_index.py 0010_member_totals.py 0011_settlement_files.py 0012_statement_triggers.py 0013_drop_member_sums.py 0014_totals_probe.py 0015_drop_message_member_index.py
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE members (
	id BIGINT NOT NULL, 
	username VARCHAR(64), 
	first_name VARCHAR(256) NOT NULL, 
	last_name VARCHAR(256), 
	language_code VARCHAR(16), 
	is_bot BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE chats (
	id BIGINT NOT NULL, 
	type VARCHAR(16) NOT NULL, 
	title VARCHAR(256), 
	username VARCHAR(64), 
	bot_status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE memberships (
	chat_id BIGINT NOT NULL, 
	member_id BIGINT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	joined_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	message_count BIGINT NOT NULL, 
	PRIMARY KEY (chat_id, member_id)
);
CREATE TABLE chat_messages (
	chat_id BIGINT NOT NULL, 
	message_id BIGINT NOT NULL, 
	member_id BIGINT NOT NULL, 
	update_id BIGINT NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	text_length INTEGER NOT NULL, 
	reply_to_message_id BIGINT, 
	sent_at DATETIME NOT NULL, 
	PRIMARY KEY (chat_id, message_id)
);
CREATE TABLE processed_updates (
	update_id BIGINT NOT NULL, 
	bot_id BIGINT NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	processed_at DATETIME NOT NULL, 
	PRIMARY KEY (update_id, bot_id)
);
CREATE TABLE sandbox_bots (
	id BIGINT NOT NULL, 
	token VARCHAR(128) NOT NULL, 
	webhook_url VARCHAR(2048) NOT NULL, 
	webhook_secret VARCHAR(256), 
	max_connections INTEGER NOT NULL, 
	allowed_updates JSON, 
	last_update_id BIGINT NOT NULL, 
	last_error_date DATETIME, 
	last_error_message TEXT, 
	commands JSON, 
	menu_buttons JSON, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (token)
);
CREATE TABLE sandbox_callback_queries (
	id VARCHAR(64) NOT NULL, 
	bot_id BIGINT NOT NULL, 
	chat_id BIGINT NOT NULL, 
	message_id BIGINT NOT NULL, 
	from_id BIGINT NOT NULL, 
	data VARCHAR(64), 
	answered BOOLEAN NOT NULL, 
	answer_text VARCHAR(256), 
	show_alert BOOLEAN NOT NULL, 
	url TEXT, 
	created_at DATETIME NOT NULL, 
	answered_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE TABLE sandbox_chat_members (
	chat_id BIGINT NOT NULL, 
	user_id BIGINT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	rights JSON, 
	custom_title VARCHAR(16), 
	until_date DATETIME, 
	promoted_by BIGINT, 
	joined_at DATETIME NOT NULL, 
	PRIMARY KEY (chat_id, user_id)
);
CREATE TABLE sandbox_chats (
	id BIGINT NOT NULL, 
	type VARCHAR(16) NOT NULL, 
	title VARCHAR(128), 
	username VARCHAR(32), 
	description TEXT, 
	peer_bot_id BIGINT, 
	last_message_id BIGINT NOT NULL, 
	revision BIGINT NOT NULL, 
	permissions JSON, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE sandbox_counters (
	name VARCHAR(32) NOT NULL, 
	value BIGINT NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE sandbox_invite_links (
	invite_link VARCHAR(128) NOT NULL, 
	chat_id BIGINT NOT NULL, 
	creator_id BIGINT NOT NULL, 
	name VARCHAR(32), 
	expire_date DATETIME, 
	member_limit INTEGER, 
	creates_join_request BOOLEAN NOT NULL, 
	is_primary BOOLEAN NOT NULL, 
	is_revoked BOOLEAN NOT NULL, 
	uses INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (invite_link)
);
CREATE TABLE sandbox_join_requests (
	chat_id BIGINT NOT NULL, 
	user_id BIGINT NOT NULL, 
	invite_link VARCHAR(128), 
	status VARCHAR(16) NOT NULL, 
	date DATETIME NOT NULL, 
	PRIMARY KEY (chat_id, user_id)
);
CREATE TABLE sandbox_messages (
	chat_id BIGINT NOT NULL, 
	message_id BIGINT NOT NULL, 
	from_id BIGINT NOT NULL, 
	date DATETIME NOT NULL, 
	text TEXT, 
	entities JSON, 
	reply_to_message_id BIGINT, 
	reply_markup JSON, 
	service JSON, 
	edit_date DATETIME, 
	deleted BOOLEAN NOT NULL, 
	revision BIGINT NOT NULL, 
	PRIMARY KEY (chat_id, message_id)
);
CREATE TABLE sandbox_reactions (
	chat_id BIGINT NOT NULL, 
	message_id BIGINT NOT NULL, 
	user_id BIGINT NOT NULL, 
	emoji JSON NOT NULL, 
	date DATETIME NOT NULL, 
	PRIMARY KEY (chat_id, message_id, user_id)
);
CREATE TABLE sandbox_updates (
	bot_id BIGINT NOT NULL, 
	update_id BIGINT NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	confirmed_at DATETIME, 
	PRIMARY KEY (bot_id, update_id)
);
CREATE TABLE sandbox_users (
	id BIGINT NOT NULL, 
	is_bot BOOLEAN NOT NULL, 
	first_name VARCHAR(64) NOT NULL, 
	last_name VARCHAR(64), 
	username VARCHAR(32), 
	language_code VARCHAR(16), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE engagement_rulesets (
	chat_id BIGINT NOT NULL, 
	version INTEGER NOT NULL, 
	rules JSON NOT NULL, 
	effective_at DATETIME NOT NULL, 
	created_by BIGINT, 
	note VARCHAR(256) NOT NULL, 
	PRIMARY KEY (chat_id, version)
);
CREATE TABLE engagement_campaigns (
	chat_id BIGINT NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_engagement_campaigns_name UNIQUE (chat_id, name)
);
CREATE TABLE engagement_epochs (
	chat_id BIGINT NOT NULL, 
	number INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	starts_at DATETIME NOT NULL, 
	ends_at DATETIME, 
	id INTEGER NOT NULL, 
	campaign_id INTEGER NOT NULL, 
	closed_at DATETIME, 
	published_at DATETIME, 
	rules JSON, 
	PRIMARY KEY (id), 
	FOREIGN KEY(campaign_id) REFERENCES engagement_campaigns (id), 
	CONSTRAINT uq_engagement_epochs_number UNIQUE (chat_id, number)
);
CREATE TABLE engagement_ledger (
	chat_id BIGINT NOT NULL, 
	epoch_id INTEGER NOT NULL, 
	member_id BIGINT NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	rule VARCHAR(32) NOT NULL, 
	points INTEGER NOT NULL, 
	rules_version INTEGER NOT NULL, 
	cause VARCHAR(96) NOT NULL, 
	revision INTEGER NOT NULL, 
	update_id BIGINT, 
	message_id BIGINT, 
	actor_id BIGINT, 
	event_id VARCHAR(128), 
	reason VARCHAR(256), 
	text_hash BIGINT, 
	occurred_at DATETIME NOT NULL, 
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(epoch_id) REFERENCES engagement_epochs (id), 
	CONSTRAINT uq_engagement_ledger_cause UNIQUE (chat_id, cause, revision)
);
CREATE TABLE engagement_scores (
	epoch_id INTEGER NOT NULL, 
	member_id BIGINT NOT NULL, 
	chat_id BIGINT NOT NULL, 
	points BIGINT NOT NULL, 
	PRIMARY KEY (epoch_id, member_id)
);
CREATE TABLE engagement_member_state (
	chat_id BIGINT NOT NULL, 
	member_id BIGINT NOT NULL, 
	latest_at DATETIME, 
	latest_message_id BIGINT NOT NULL, 
	last_credit_at DATETIME, 
	day INTEGER NOT NULL, 
	day_count INTEGER NOT NULL, 
	day_points INTEGER NOT NULL, 
	recent JSON NOT NULL, 
	has_qualified BOOLEAN NOT NULL, 
	referrer_id BIGINT, 
	joined_at DATETIME, 
	invite_credited BOOLEAN NOT NULL, 
	PRIMARY KEY (chat_id, member_id)
);
CREATE TABLE engagement_interactions (
	chat_id BIGINT NOT NULL, 
	message_id BIGINT NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	author_id BIGINT NOT NULL, 
	actors JSON NOT NULL, 
	PRIMARY KEY (chat_id, message_id, kind)
);
CREATE TABLE engagement_flags (
	chat_id BIGINT NOT NULL, 
	member_id BIGINT NOT NULL, 
	code VARCHAR(32) NOT NULL, 
	detail VARCHAR(256) NOT NULL, 
	first_at DATETIME NOT NULL, 
	last_at DATETIME NOT NULL, 
	PRIMARY KEY (chat_id, member_id, code)
);
CREATE TABLE engagement_standing (
	chat_id BIGINT NOT NULL, 
	member_id BIGINT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	reason VARCHAR(256) NOT NULL, 
	decided_by BIGINT, 
	decided_at DATETIME NOT NULL, 
	PRIMARY KEY (chat_id, member_id)
);
CREATE TABLE wallet_links (
	id INTEGER NOT NULL, 
	chain_family VARCHAR(8) NOT NULL, 
	address VARCHAR(64) NOT NULL, 
	chain_id VARCHAR(32) NOT NULL, 
	is_primary BOOLEAN NOT NULL, 
	member_id BIGINT NOT NULL, 
	message TEXT NOT NULL, 
	signature TEXT NOT NULL, 
	linked_at DATETIME NOT NULL, 
	unlinked_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(member_id) REFERENCES members (id)
);
CREATE TABLE wallet_link_tokens (
	id INTEGER NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	member_id BIGINT NOT NULL, 
	chain_family VARCHAR(8) NOT NULL, 
	chat_id BIGINT, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	used_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(member_id) REFERENCES members (id)
);
CREATE TABLE wallet_challenges (
	nonce VARCHAR(32) NOT NULL, 
	token_id INTEGER NOT NULL, 
	chain_family VARCHAR(8) NOT NULL, 
	address VARCHAR(64) NOT NULL, 
	message TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	used_at DATETIME, 
	PRIMARY KEY (nonce), 
	FOREIGN KEY(token_id) REFERENCES wallet_link_tokens (id)
);
CREATE TABLE wallet_audit_log (
	id INTEGER NOT NULL, 
	event VARCHAR(16) NOT NULL, 
	member_id BIGINT NOT NULL, 
	other_member_id BIGINT, 
	chain_family VARCHAR(8) NOT NULL, 
	address VARCHAR(64) NOT NULL, 
	link_id INTEGER, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE claims_settlements (
	id INTEGER NOT NULL, 
	chat_id BIGINT NOT NULL, 
	epoch_number INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	pool VARCHAR(80) NOT NULL, 
	params JSON NOT NULL, 
	ledger_digest VARCHAR(80) NOT NULL, 
	evm_root VARCHAR(66), 
	solana_root VARCHAR(66), 
	held_back VARCHAR(80) NOT NULL, 
	distributor VARCHAR(64), 
	chain_id VARCHAR(32), 
	deadline DATETIME, 
	treasury VARCHAR(64), 
	mint VARCHAR(64), 
	allowance VARCHAR(80), 
	epoch_id INTEGER NOT NULL, 
	rules JSON NOT NULL, 
	unlinked JSON NOT NULL, 
	closed_at DATETIME NOT NULL, 
	published_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(epoch_id) REFERENCES engagement_epochs (id), 
	CONSTRAINT uq_claims_settlements_epoch UNIQUE (epoch_id)
);
CREATE TABLE claims_rows (
	settlement_id INTEGER NOT NULL, 
	chain VARCHAR(8) NOT NULL, 
	"index" INTEGER NOT NULL, 
	member_id BIGINT NOT NULL, 
	account VARCHAR(64) NOT NULL, 
	amount VARCHAR(80) NOT NULL, 
	tree_index INTEGER NOT NULL, 
	PRIMARY KEY (settlement_id, chain, "index"), 
	FOREIGN KEY(settlement_id) REFERENCES claims_settlements (id) ON DELETE CASCADE
);
CREATE TABLE claims_artefacts (
	settlement_id INTEGER NOT NULL, 
	name VARCHAR(32) NOT NULL, 
	media_type VARCHAR(64) NOT NULL, 
	body BLOB NOT NULL, path VARCHAR(255), 
	PRIMARY KEY (settlement_id, name), 
	FOREIGN KEY(settlement_id) REFERENCES claims_settlements (id) ON DELETE CASCADE
);
CREATE TABLE claims_claims (
	id INTEGER NOT NULL, 
	settlement_id INTEGER NOT NULL, 
	epoch_id INTEGER NOT NULL, 
	member_id BIGINT NOT NULL, 
	chain VARCHAR(8) NOT NULL, 
	"index" INTEGER NOT NULL, 
	account VARCHAR(64) NOT NULL, 
	amount VARCHAR(80) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	tx_hash VARCHAR(128), 
	tx TEXT, 
	blockhash VARCHAR(64), 
	last_valid_height BIGINT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	confirmed_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(settlement_id) REFERENCES claims_settlements (id) ON DELETE CASCADE, 
	CONSTRAINT uq_claims_claims_member UNIQUE (epoch_id, member_id, chain)
);
CREATE TABLE miniapp_apps (
	name VARCHAR(64) NOT NULL, 
	id VARCHAR(32) NOT NULL, 
	owner_id BIGINT NOT NULL, 
	secret_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, url VARCHAR(512) DEFAULT '' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(owner_id) REFERENCES members (id)
);
CREATE TABLE bot_pending_deletions (
	chat_id BIGINT NOT NULL, 
	message_id BIGINT NOT NULL, 
	delete_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (chat_id, message_id)
);
CREATE TABLE engagement_flag_notices (
	chat_id BIGINT NOT NULL, 
	notified_through DATETIME NOT NULL, 
	flags INTEGER NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (chat_id)
);
CREATE TABLE miniapp_group_apps (
	chat_id BIGINT NOT NULL, 
	app_id VARCHAR(32) NOT NULL, 
	cap INTEGER NOT NULL, 
	enabled_by BIGINT, 
	enabled_at DATETIME NOT NULL, 
	disabled_at DATETIME, 
	PRIMARY KEY (chat_id, app_id), 
	FOREIGN KEY(app_id) REFERENCES miniapp_apps (id), 
	FOREIGN KEY(chat_id) REFERENCES chats (id)
);
CREATE TABLE miniapp_consents (
	member_id BIGINT NOT NULL, 
	app_id VARCHAR(32) NOT NULL, 
	scope VARCHAR(32) NOT NULL, 
	granted_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (member_id, app_id, scope), 
	FOREIGN KEY(app_id) REFERENCES miniapp_apps (id), 
	FOREIGN KEY(member_id) REFERENCES members (id)
);
CREATE TABLE engagement_member_totals (
	epoch_id INTEGER NOT NULL, 
	member_id BIGINT NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	rule VARCHAR(32) NOT NULL, 
	app_id VARCHAR(64) NOT NULL, 
	chat_id BIGINT NOT NULL, 
	points BIGINT NOT NULL, 
	entries BIGINT NOT NULL, 
	counted BIGINT NOT NULL, 
	not_counted BIGINT NOT NULL, 
	PRIMARY KEY (epoch_id, member_id, kind, rule, app_id)
);
CREATE INDEX ix_memberships_member_id ON memberships (member_id);
CREATE INDEX ix_sandbox_chat_members_user_id ON sandbox_chat_members (user_id);
CREATE INDEX ix_sandbox_invite_links_chat_id ON sandbox_invite_links (chat_id);
CREATE INDEX ix_sandbox_messages_chat_revision ON sandbox_messages (chat_id, revision);
CREATE INDEX ix_sandbox_updates_pending ON sandbox_updates (bot_id, confirmed_at, update_id);
CREATE INDEX ix_sandbox_users_username ON sandbox_users (username);
CREATE INDEX ix_engagement_rulesets_chat_effective ON engagement_rulesets (chat_id, effective_at);
CREATE INDEX ix_engagement_epochs_chat_state ON engagement_epochs (chat_id, state);
CREATE INDEX ix_engagement_ledger_epoch_member ON engagement_ledger (epoch_id, member_id, occurred_at);
CREATE INDEX ix_engagement_ledger_chat_time ON engagement_ledger (chat_id, occurred_at);
CREATE INDEX ix_engagement_scores_rank ON engagement_scores (epoch_id, points, member_id);
CREATE INDEX ix_wallet_links_member_id ON wallet_links (member_id);
CREATE UNIQUE INDEX uq_wallet_links_active_address ON wallet_links (chain_family, address) WHERE unlinked_at IS NULL;
CREATE UNIQUE INDEX uq_wallet_links_active_primary ON wallet_links (member_id, chain_family) WHERE is_primary AND unlinked_at IS NULL;
CREATE INDEX ix_wallet_link_tokens_member_id ON wallet_link_tokens (member_id);
CREATE UNIQUE INDEX uq_wallet_link_tokens_hash ON wallet_link_tokens (token_hash);
CREATE INDEX ix_wallet_challenges_token_id ON wallet_challenges (token_id);
CREATE INDEX ix_wallet_audit_log_member_id ON wallet_audit_log (member_id);
CREATE INDEX ix_wallet_audit_log_event_created ON wallet_audit_log (event, created_at);
CREATE UNIQUE INDEX ix_claims_settlements_chat_number ON claims_settlements (chat_id, epoch_number);
CREATE INDEX ix_claims_rows_member ON claims_rows (settlement_id, member_id);
CREATE INDEX ix_miniapp_apps_owner_id ON miniapp_apps (owner_id);
CREATE INDEX ix_bot_pending_deletions_due ON bot_pending_deletions (delete_at);
CREATE VIEW engagement_intake AS SELECT l.chat_id, l.epoch_id, l.member_id, l.kind, l.rule, l.points, l.rules_version, l.cause, l.revision, l.update_id, l.message_id, l.actor_id, l.event_id, l.reason, l.text_hash, l.occurred_at, l.created_at, s.latest_at, s.latest_message_id, s.last_credit_at, s.day, s.day_count, s.day_points, s.recent, s.has_qualified, s.invite_credited FROM engagement_ledger l JOIN engagement_member_state s ON 0;
CREATE TRIGGER engagement_ledger_score AFTER INSERT ON engagement_ledger WHEN NEW.points <> 0 BEGIN INSERT INTO engagement_scores (epoch_id, member_id, chat_id, points) VALUES (NEW.epoch_id, NEW.member_id, NEW.chat_id, NEW.points) ON CONFLICT (epoch_id, member_id) DO UPDATE SET points = engagement_scores.points + excluded.points; END;
CREATE TRIGGER engagement_intake_insert INSTEAD OF INSERT ON engagement_intake BEGIN INSERT INTO engagement_ledger (chat_id, epoch_id, member_id, kind, rule, points, rules_version, cause, revision, update_id, message_id, actor_id, event_id, reason, text_hash, occurred_at, created_at) VALUES (NEW.chat_id, NEW.epoch_id, NEW.member_id, NEW.kind, NEW.rule, NEW.points, NEW.rules_version, NEW.cause, NEW.revision, NEW.update_id, NEW.message_id, NEW.actor_id, NEW.event_id, NEW.reason, NEW.text_hash, NEW.occurred_at, NEW.created_at) ON CONFLICT (chat_id, cause, revision) DO NOTHING; UPDATE engagement_member_state SET latest_at = NEW.latest_at, latest_message_id = NEW.latest_message_id, last_credit_at = NEW.last_credit_at, day = NEW.day, day_count = NEW.day_count, day_points = NEW.day_points, recent = NEW.recent, has_qualified = NEW.has_qualified, invite_credited = NEW.invite_credited WHERE chat_id = NEW.chat_id AND member_id = NEW.member_id; END;
CREATE TRIGGER engagement_ledger_totals AFTER INSERT ON engagement_ledger WHEN NOT (NEW.kind = 'message' AND EXISTS (SELECT 1 FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause = NEW.cause AND revision <> NEW.revision AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind = 'message')) BEGIN INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id, points, entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id, NEW.kind, NEW.rule, CASE WHEN NEW.kind = 'app' THEN substr(NEW.cause, 5, instr(substr(NEW.cause, 5) || ':', ':') - 1) ELSE '' END, NEW.chat_id, NEW.points, 1, CASE WHEN NEW.kind = 'message' AND NEW.points > 0 THEN 1 ELSE 0 END, CASE WHEN NEW.kind = 'message' AND NEW.points <= 0 THEN 1 ELSE 0 END) ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE SET points = engagement_member_totals.points + excluded.points, entries = engagement_member_totals.entries + excluded.entries, counted = engagement_member_totals.counted + excluded.counted, not_counted = engagement_member_totals.not_counted + excluded.not_counted; END;
CREATE TRIGGER engagement_ledger_corrections AFTER INSERT ON engagement_ledger WHEN NEW.kind = 'message' AND EXISTS (SELECT 1 FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause = NEW.cause AND revision <> NEW.revision AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind = 'message') BEGIN INSERT INTO engagement_member_totals (epoch_id, member_id, kind, rule, app_id, chat_id, points, entries, counted, not_counted) VALUES (NEW.epoch_id, NEW.member_id, NEW.kind, NEW.rule, CASE WHEN NEW.kind = 'app' THEN substr(NEW.cause, 5, instr(substr(NEW.cause, 5) || ':', ':') - 1) ELSE '' END, NEW.chat_id, NEW.points, 1, 0, 0) ON CONFLICT (epoch_id, member_id, kind, rule, app_id) DO UPDATE SET points = engagement_member_totals.points + excluded.points, entries = engagement_member_totals.entries + excluded.entries, counted = engagement_member_totals.counted + excluded.counted, not_counted = engagement_member_totals.not_counted + excluded.not_counted; UPDATE engagement_member_totals SET counted = engagement_member_totals.counted - CASE WHEN v.net > 0 THEN 1 ELSE 0 END, not_counted = engagement_member_totals.not_counted - CASE WHEN v.net > 0 THEN 0 ELSE 1 END FROM (SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS net, max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause = NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind = 'message' AND revision <> NEW.revision) a JOIN engagement_ledger f ON f.chat_id = NEW.chat_id AND f.cause = NEW.cause AND f.revision = a.rev) v WHERE engagement_member_totals.epoch_id = NEW.epoch_id AND engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind = 'message' AND engagement_member_totals.rule = v.final_rule AND engagement_member_totals.app_id = ''; UPDATE engagement_member_totals SET counted = engagement_member_totals.counted + CASE WHEN v.net > 0 THEN 1 ELSE 0 END, not_counted = engagement_member_totals.not_counted + CASE WHEN v.net > 0 THEN 0 ELSE 1 END FROM (SELECT f.rule AS final_rule, a.net AS net, a.rev AS rev FROM (SELECT sum(points) AS net, max(revision) AS rev FROM engagement_ledger WHERE chat_id = NEW.chat_id AND cause = NEW.cause AND +epoch_id = NEW.epoch_id AND +member_id = NEW.member_id AND +kind = 'message') a JOIN engagement_ledger f ON f.chat_id = NEW.chat_id AND f.cause = NEW.cause AND f.revision = a.rev) v WHERE engagement_member_totals.epoch_id = NEW.epoch_id AND engagement_member_totals.member_id = NEW.member_id AND engagement_member_totals.kind = 'message' AND engagement_member_totals.rule = v.final_rule AND engagement_member_totals.app_id = ''; END;
