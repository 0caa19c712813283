"""The schema, as numbered migrations. Nothing else creates tables.

The one exception by design: per catalog characteristic, `profile` gets a value column and
`profile_times` an observed-at column (catalog_sync.sync_catalog adds them), since the catalog is the
organisation's own and a wide profile is what makes segments fast at national size.
"""

import re

from sqlite_utils import Migrations

migrations = Migrations("caseload")


@migrations(name="0001_initial")
def m0001_initial(db):
    db.executescript(
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('coach', 'teamlead', 'analyst', 'admin')),
            team TEXT,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        );
        CREATE TABLE characteristics (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            added_at TEXT NOT NULL
        );
        CREATE TABLE clients (
            id INTEGER PRIMARY KEY,
            client_number TEXT NOT NULL UNIQUE,
            first_name TEXT,
            last_name TEXT,
            email TEXT,
            phone TEXT,
            language TEXT,
            preferred_channel TEXT,
            coach TEXT,
            intake_date TEXT,
            birth_date TEXT,
            status TEXT NOT NULL DEFAULT 'active',
            outflow_type TEXT,
            outflow_date TEXT,
            last_activity TEXT,
            last_reply TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX clients_coach ON clients (coach, last_name, id);
        CREATE INDEX clients_name ON clients (last_name, first_name, id);
        CREATE TABLE profile (
            client_id INTEGER PRIMARY KEY REFERENCES clients (id)
        );
        -- Clustered by client and characteristic: history reads are one range scan, bulk
        -- imports append, and no second index is needed at tens of millions of rows.
        -- seq tells apart two observations of the same characteristic in the same second.
        CREATE TABLE observations (
            client_id INTEGER NOT NULL REFERENCES clients (id),
            characteristic_id INTEGER NOT NULL REFERENCES characteristics (id),
            observed_at TEXT NOT NULL,
            seq INTEGER NOT NULL DEFAULT 0,
            value ANY,
            source TEXT NOT NULL CHECK (source IN ('import', 'coach', 'reply', 'system')),
            author TEXT,
            PRIMARY KEY (client_id, characteristic_id, observed_at, seq)
        ) WITHOUT ROWID;
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            text TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT 'coach',
            author TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX notes_client ON notes (client_id, created_at);
        CREATE TABLE interventions (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            name TEXT NOT NULL,
            start_date TEXT NOT NULL,
            end_date TEXT,
            result TEXT,
            author TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX interventions_client ON interventions (client_id, name);
        CREATE INDEX interventions_name ON interventions (name, client_id);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            origin TEXT NOT NULL,
            action TEXT NOT NULL,
            object TEXT NOT NULL,
            result TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX audit_object ON audit (object);
        CREATE INDEX audit_actor ON audit (actor, at);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            author TEXT,
            file_sha256 TEXT NOT NULL,
            rows INTEGER NOT NULL,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            observations INTEGER NOT NULL
        );
        """
    )


@migrations(name="0002_segments")
def m0002_segments(db):
    """Saved segments (an expression in canonical form, or a fixed group from a random split)."""
    db.executescript(
        """
        CREATE TABLE segments (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            expression TEXT,
            description TEXT NOT NULL DEFAULT '',
            author TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            split_of TEXT,
            split_seed INTEGER,
            split_ratio INTEGER,
            split_partner TEXT
        );
        CREATE TABLE segment_members (
            segment_id INTEGER NOT NULL REFERENCES segments (id),
            client_id INTEGER NOT NULL REFERENCES clients (id),
            PRIMARY KEY (segment_id, client_id)
        ) WITHOUT ROWID;
        CREATE INDEX segment_members_client ON segment_members (client_id);
        """
    )


@migrations(name="0003_messages")
def m0003_messages(db):
    """Templates, campaigns, the outbox (messages and their timestamped events), opt-outs per
    channel and the per-minute usage behind each channel's rate limit."""
    db.executescript(
        """
        CREATE TABLE templates (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
            language TEXT NOT NULL,
            subject TEXT,
            body TEXT NOT NULL,
            html TEXT,
            author TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (name, channel, language)
        );
        CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            template TEXT,
            segment TEXT,
            channel TEXT NOT NULL DEFAULT 'auto' CHECK (channel IN ('auto', 'sms', 'email')),
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
            failures_in_a_row INTEGER NOT NULL DEFAULT 0,
            paused_at TEXT,
            author TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            campaign_id INTEGER REFERENCES campaigns (id),
            occurrence TEXT NOT NULL DEFAULT '',
            client_id INTEGER NOT NULL REFERENCES clients (id),
            kind TEXT NOT NULL DEFAULT 'campaign' CHECK (kind IN ('campaign', 'checkin', 'system')),
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
            language TEXT,
            template TEXT,
            subject TEXT,
            body TEXT NOT NULL,
            html TEXT,
            token TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN
                ('queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled', 'expired')),
            reason TEXT,
            due_at TEXT NOT NULL,
            expires_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            possible_duplicate INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until TEXT,
            sent_at TEXT,
            delivered_at TEXT,
            provider_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- once per (campaign, client, occurrence); a check-in round without a campaign names its
        -- occurrence; messages with neither (a STOP confirmation) may repeat
        CREATE UNIQUE INDEX messages_once ON messages (COALESCE(campaign_id, 0), client_id, occurrence)
            WHERE campaign_id IS NOT NULL OR occurrence != '';
        -- few indexes that change when a message is sent: each one is a page written per commit
        CREATE INDEX messages_queued ON messages (due_at, id) WHERE status = 'queued';
        CREATE INDEX messages_sending ON messages (lease_owner, id) WHERE status = 'sending';
        CREATE INDEX messages_client ON messages (client_id);
        CREATE INDEX messages_provider ON messages (provider_id) WHERE provider_id IS NOT NULL;
        CREATE TABLE message_events (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages (id),
            at TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            attempts INTEGER NOT NULL
        );
        CREATE INDEX message_events_message ON message_events (message_id, id);
        -- every change of state (and every deferral) is an event, written by SQLite itself
        CREATE TRIGGER messages_created AFTER INSERT ON messages BEGIN
            INSERT INTO message_events (message_id, at, status, reason, attempts)
            VALUES (NEW.id, NEW.updated_at, NEW.status, NEW.reason, NEW.attempts);
        END;
        CREATE TRIGGER messages_changed AFTER UPDATE OF status, due_at, reason ON messages
            WHEN NEW.status IS NOT OLD.status OR NEW.due_at IS NOT OLD.due_at OR NEW.reason IS NOT OLD.reason
        BEGIN
            INSERT INTO message_events (message_id, at, status, reason, attempts)
            VALUES (NEW.id, NEW.updated_at, NEW.status, NEW.reason, NEW.attempts);
        END;
        CREATE TABLE opt_outs (
            client_id INTEGER NOT NULL REFERENCES clients (id),
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
            at TEXT NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (client_id, channel)
        ) WITHOUT ROWID;
        CREATE TABLE channel_usage (
            channel TEXT NOT NULL,
            minute INTEGER NOT NULL,
            used INTEGER NOT NULL,
            PRIMARY KEY (channel, minute)
        ) WITHOUT ROWID;
        """
    )


@migrations(name="0004_daemon")
def m0004_daemon(db):
    """The daemon's heartbeat and job runs, campaign schedules, check-ins and their questions,
    replies (SMS, email, one tap) and clicks on tracked links."""
    db.executescript(
        """
        CREATE TABLE daemon_heartbeat (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            owner TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            beat_at TEXT NOT NULL,
            stopped_at TEXT,
            tick_seconds REAL NOT NULL,
            listen TEXT
        );
        CREATE TABLE daemon_jobs (
            name TEXT PRIMARY KEY,
            last_started_at TEXT,
            last_finished_at TEXT,
            last_ok_at TEXT,
            last_error TEXT,
            last_result TEXT,
            runs INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            done_for TEXT
        );
        CREATE TABLE campaign_schedules (
            campaign_id INTEGER PRIMARY KEY REFERENCES campaigns (id),
            kind TEXT NOT NULL CHECK (kind IN ('once', 'weekly', 'monthly', 'relative')),
            at_time TEXT NOT NULL,
            start_date TEXT,
            end_date TEXT,
            every_weeks INTEGER,
            weekday INTEGER,
            nth INTEGER,
            date_field TEXT,
            offset_days INTEGER,
            next_at TEXT,
            last_occurrence TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE checkin_schedules (
            id INTEGER PRIMARY KEY,
            segment TEXT NOT NULL,
            every_days INTEGER NOT NULL CHECK (every_days >= 1),
            ask TEXT NOT NULL DEFAULT '',
            extra INTEGER NOT NULL DEFAULT 2 CHECK (extra BETWEEN 0 AND 2),
            at_time TEXT NOT NULL DEFAULT '10:00',
            channel TEXT NOT NULL DEFAULT 'auto' CHECK (channel IN ('auto', 'sms', 'email')),
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
            author TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE checkins (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            schedule_id INTEGER REFERENCES checkin_schedules (id),
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
            language TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'unanswered', 'cancelled')),
            created_at TEXT NOT NULL,
            replied_at TEXT,
            closed_at TEXT
        );
        CREATE INDEX checkins_client ON checkins (client_id, created_at);
        CREATE INDEX checkins_open ON checkins (client_id) WHERE status = 'open';
        -- one row per question of a check-in; over SMS each has its own message, by email they share one
        CREATE TABLE checkin_questions (
            checkin_id INTEGER NOT NULL REFERENCES checkins (id),
            position INTEGER NOT NULL,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            characteristic TEXT NOT NULL,
            message_id INTEGER REFERENCES messages (id),
            status TEXT NOT NULL DEFAULT 'waiting' CHECK (status IN
                ('waiting', 'queued', 'asked', 'answered', 'unanswered', 'skipped')),
            asked_at TEXT,
            closes_at TEXT,
            answered_at TEXT,
            PRIMARY KEY (checkin_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX checkin_questions_client ON checkin_questions (client_id, status);
        CREATE INDEX checkin_questions_message ON checkin_questions (message_id);
        CREATE INDEX checkin_questions_pending ON checkin_questions (status, closes_at)
            WHERE status IN ('queued', 'asked');
        -- what clients sent us: the text stays with the client (erased with them); a sender we
        -- do not know leaves no text and no number behind
        CREATE TABLE replies (
            id INTEGER PRIMARY KEY,
            client_id INTEGER REFERENCES clients (id),
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'link')),
            provider TEXT NOT NULL,
            provider_id TEXT,
            message_id INTEGER REFERENCES messages (id),
            checkin_id INTEGER REFERENCES checkins (id),
            position INTEGER,
            text TEXT,
            outcome TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX replies_once ON replies (provider, provider_id) WHERE provider_id IS NOT NULL;
        CREATE INDEX replies_client ON replies (client_id, received_at);
        CREATE INDEX replies_message ON replies (message_id);
        CREATE TABLE clicks (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages (id),
            client_id INTEGER NOT NULL REFERENCES clients (id),
            kind TEXT NOT NULL CHECK (kind IN ('link', 'answer', 'unsubscribe')),
            at TEXT NOT NULL
        );
        CREATE INDEX clicks_client ON clicks (client_id, at);
        """
    )


@migrations(name="0005_trust")
def m0005_trust(db):
    from .audit import init_head

    db.executescript(
        """
        CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            entries INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            last_hash TEXT NOT NULL,
            base_id INTEGER NOT NULL,
            base_hash TEXT NOT NULL,
            seal TEXT NOT NULL
        );
        CREATE TRIGGER audit_head_keep BEFORE DELETE ON audit_head
            BEGIN SELECT RAISE(ABORT, 'the audit head stays'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            WHEN old.id > (SELECT base_id FROM audit_head WHERE id = 1)
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
        CREATE INDEX audit_at ON audit (at);
        """
    )
    init_head(db.conn)


@migrations(name="0006_profile_times")
def m0006_profile_times(db):
    """When each profile value was observed moves to its own table: segments scan the values, and
    measured at 100k clients a values-only profile counts `wellbeing <= 2` in 14 ms against 53 ms.
    A client without a row here has no observation times yet."""
    db.execute("CREATE TABLE profile_times (client_id INTEGER PRIMARY KEY REFERENCES clients (id))")
    cols = [r[1] for r in db.execute("PRAGMA table_info(profile)") if r[1].startswith("t_")]
    for col in cols:
        db.execute(f'ALTER TABLE profile_times ADD COLUMN "{col}" TEXT')
    if cols:
        quoted = ", ".join(f'"{c}"' for c in cols)
        db.execute(f"INSERT INTO profile_times (client_id, {quoted}) SELECT client_id, {quoted} FROM profile")
        for col in cols:
            db.execute(f'ALTER TABLE profile DROP COLUMN "{col}"')


_IN_CHECK = re.compile(r"CHECK \((\w+) IN\s*\(([^()]*)\)\)")


def _or_checks(sql: str) -> str:
    """`CHECK (c IN ('a', 'b', 'c'))` -> `CHECK (c = 'a' OR c = 'b' OR c = 'c')`."""
    def spell(m):
        col, items = m.group(1), [s.strip() for s in m.group(2).split(",")]
        return "CHECK (" + " OR ".join(f"{col} = {s}" for s in items) + ")"
    return _IN_CHECK.sub(spell, sql)


def _rebuild(db, table: str, new_sql: str):
    """SQLite's documented table rebuild: new table, copy, drop, rename, indexes and triggers back."""
    extras = [r[0] for r in db.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        " ORDER BY type, name", [table])]
    temp = f"{table}__rebuild"
    db.execute(re.sub(rf"^CREATE TABLE \"?{table}\"?", f'CREATE TABLE "{temp}"', new_sql))
    db.execute(f'INSERT INTO "{temp}" SELECT * FROM "{table}"')
    db.execute(f'DROP TABLE "{table}"')
    db.execute(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
    for sql in extras:
        db.execute(sql)


@migrations(name="0007_checks_without_in")
def m0007_checks_without_in(db):
    """A CHECK with `IN` over three or more values costs SQLite an ephemeral table per row written:
    measured here, 4 us per observation, a third of a 100k-client import. The same checks spelled
    with OR cost nothing measurable. Rebuilds the tables written in bulk or on every send."""
    for table in ("observations", "messages", "checkins", "checkin_questions", "replies", "clicks"):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
        new_sql = _or_checks(sql)
        if new_sql != sql:
            _rebuild(db, table, new_sql)


@migrations(name="0008_clients_sort_name")
def m0008_clients_sort_name(db):
    """The caseload's default order (overview._sort_columns, by name): a page by keyset is an index
    range instead of a sort of every client (measured at 100k: 32 ms -> 2 ms a page)."""
    db.execute("CREATE INDEX clients_sort_name ON clients (COALESCE(last_name, '') COLLATE NOCASE,"
               " COALESCE(first_name, '') COLLATE NOCASE, id)")


@migrations(name="0009_owners")
def m0009_owners(db):
    """Templates, saved segments, campaigns and check-in schedules get an owner (caseload.owners):
    an existing row's author. `author` stays who made or last changed the row. A check-in
    schedule's first round waits for its time of day: `starts_at` (NULL: no wait)."""
    for table in ("templates", "segments", "campaigns", "checkin_schedules"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT")
        db.execute(f"UPDATE {table} SET owner = author")
    db.execute("ALTER TABLE checkin_schedules ADD COLUMN starts_at TEXT")


LINKED = ("checkins", "messages")  # ids that a link (check-ins) or a provider (messages) can name


@migrations(name="0010_links_never_reused")
def m0010_links_never_reused(db):
    """Check-in and message ids are never handed out again (AUTOINCREMENT): an answer link names a
    check-in and an SMS provider's reference names a message, so after an erasure a reused id would
    let an old link or a late report write into another client's data. Links made before this
    migration name a check-in as "a<id>..."; `id_floors` keeps the first id given out after it, and
    such a link is honoured only below it (caseload.links). Rebuilds both tables (measured: as
    0007 for messages). Also the audit head's `base_at`, and its key seal (caseload.audit)."""
    for table in LINKED:
        sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
        new_sql, n = re.subn(r"\bid INTEGER PRIMARY KEY\b(?! AUTOINCREMENT)", "id INTEGER PRIMARY KEY AUTOINCREMENT",
                             sql, count=1)
        if n:
            _rebuild(db, table, new_sql)
    db.execute("CREATE TABLE id_floors (name TEXT PRIMARY KEY, below INTEGER NOT NULL)")
    db.execute("INSERT INTO id_floors (name, below) SELECT 'checkins', COALESCE(MAX(id), 0) + 1 FROM checkins")
    # the audit head keeps when the newest pruned entry was written, and is sealed with the audit
    # key when one is configured now (later: `caseload audit seal`)
    db.execute("ALTER TABLE audit_head ADD COLUMN base_at TEXT NOT NULL DEFAULT ''")
    from .audit import audit_key, head

    h, key = head(db.conn), audit_key()
    if h is not None and key is not None and h.state(key) == "unkeyed":
        db.execute("UPDATE audit_head SET seal = ? WHERE id = 1", [h._expected(key)])


@migrations(name="0011_privacy_releases")
def m0011_privacy_releases(db):
    """What analysts were shown (caseload.privacy): each query's noisy counts, once per budget
    period, and who paid its epsilon. query is a hash of the question, never its text."""
    db.execute("""
        CREATE TABLE privacy_releases (
            id INTEGER PRIMARY KEY,
            period_start TEXT NOT NULL,
            query TEXT NOT NULL,
            analyst TEXT NOT NULL,
            kind TEXT NOT NULL,
            epsilon REAL NOT NULL,
            scale REAL NOT NULL,
            counts TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (period_start, query)
        )""")
    db.execute("CREATE INDEX privacy_releases_analyst ON privacy_releases (analyst, period_start)")


@migrations(name="0015_message_priority")
def m0015_message_priority(db):
    """Each message's priority (caseload.outbox.queue): 0 personal (check-ins, a coach's message to
    one client, STOP confirmations), 1 a broadcast (a campaign to a segment). Lower goes first."""
    db.execute("ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 1")
    db.execute("UPDATE messages SET priority = 0 WHERE kind != 'campaign'")


@migrations(name="0017_bad_addresses")
def m0017_bad_addresses(db):
    """Addresses a channel cannot reach (caseload.replies: a bounce with a permanent status). A
    message to a client whose address is here fails at once with the reason, until the address
    changes (the triggers forget the mark). No address is stored, only the client and the channel."""
    db.executescript(
        """
        CREATE TABLE bad_addresses (
            client_id INTEGER NOT NULL REFERENCES clients (id),
            channel TEXT NOT NULL CHECK (channel = 'sms' OR channel = 'email'),
            reason TEXT NOT NULL,
            status TEXT,
            message_id INTEGER REFERENCES messages (id),
            at TEXT NOT NULL,
            PRIMARY KEY (client_id, channel)
        ) WITHOUT ROWID;
        CREATE TRIGGER bad_addresses_email_changed AFTER UPDATE OF email ON clients
            WHEN NEW.email IS NOT OLD.email
        BEGIN
            DELETE FROM bad_addresses WHERE client_id = NEW.id AND channel = 'email';
        END;
        CREATE TRIGGER bad_addresses_phone_changed AFTER UPDATE OF phone ON clients
            WHEN NEW.phone IS NOT OLD.phone
        BEGIN
            DELETE FROM bad_addresses WHERE client_id = NEW.id AND channel = 'sms';
        END;
        """
    )


@migrations(name="0022_offers")
def m0022_offers(db):
    """Offers (caseload.items, caseload.offers): items (vacancies, tips, activities, news) with
    their tags; digests (one round of messages, each with a client's best items) and their
    schedules; `offers`, every item shown to a client with its rank, score and whether it filled
    an exploration slot or a digest ranked at random, and when the client first clicked it; a
    click's item; and the ranking's learned counts, kept between rounds for previews."""
    db.executescript(
        """
        CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind = 'vacancy' OR kind = 'tip' OR kind = 'activity' OR kind = 'news'),
            title TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            url TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '',
            requires TEXT,
            valid_from TEXT,
            valid_until TEXT,
            language TEXT NOT NULL,
            expired_at TEXT,
            owner TEXT,
            author TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE item_tags (
            tag TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items (id),
            PRIMARY KEY (tag, item_id)
        ) WITHOUT ROWID;
        CREATE INDEX item_tags_item ON item_tags (item_id);
        CREATE TABLE digest_schedules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            segment TEXT NOT NULL,
            every_days INTEGER NOT NULL CHECK (every_days = 1 OR every_days = 7),
            at_time TEXT NOT NULL,
            items INTEGER NOT NULL CHECK (items >= 1),
            channel TEXT NOT NULL DEFAULT 'auto',
            status TEXT NOT NULL DEFAULT 'active' CHECK (status = 'active' OR status = 'paused'),
            next_at TEXT NOT NULL,
            last_occurrence TEXT,
            owner TEXT,
            author TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
            schedule_id INTEGER REFERENCES digest_schedules (id),
            occurrence TEXT NOT NULL DEFAULT '',
            segment TEXT NOT NULL,
            items INTEGER NOT NULL,
            random_share REAL NOT NULL,
            explore_share REAL NOT NULL,
            author TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE offers (
            id INTEGER PRIMARY KEY,
            digest_id INTEGER NOT NULL REFERENCES digests (id),
            message_id INTEGER NOT NULL REFERENCES messages (id),
            client_id INTEGER NOT NULL REFERENCES clients (id),
            item_id INTEGER NOT NULL REFERENCES items (id),
            rank INTEGER NOT NULL,
            score REAL NOT NULL,
            explore INTEGER NOT NULL DEFAULT 0,
            random INTEGER NOT NULL DEFAULT 0,
            shown_at TEXT NOT NULL,
            clicked_at TEXT
        );
        CREATE INDEX offers_client ON offers (client_id, shown_at);
        CREATE INDEX offers_message ON offers (message_id, item_id);
        CREATE INDEX offers_item ON offers (item_id);
        CREATE TABLE offer_model (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            computed_at TEXT NOT NULL,
            data BLOB NOT NULL
        );
        ALTER TABLE clicks ADD COLUMN item_id INTEGER REFERENCES items (id);
        CREATE INDEX clicks_item ON clicks (item_id, at) WHERE item_id IS NOT NULL;
        CREATE INDEX clicks_at ON clicks (at);
        """
    )


@migrations(name="0019_priority_fallback_calls_letters")
def m0019_priority_fallback_calls_letters(db):
    """Personal messages first, email that falls back to SMS, phone check-ins, postal addresses.

    - `messages_queued` leads with the priority: a claim (`priority IN (0, 1) AND due_at <= ?`,
      ordered by priority, due_at, id) is two range searches of this index, personal ones first.
    - `fallbacks`: a failed email (not a system message) gets a row 'pending' from a trigger, in the
      transaction that fails it; caseload.fallback settles it: an SMS queued (`fallback_id`) or
      'none' with the reason. Its primary key makes it once per failed message.
    - `checkins.channel` may be 'phone': the check-in of a client who prefers phone is a call on the
      call list (caseload.calls), not a message. Rebuilds checkins, keeping its id sequence.
    - clients get a postal address (address, postal_code, city) for letters (caseload.letters)."""
    db.executescript(
        """
        DROP INDEX messages_queued;
        CREATE INDEX messages_queued ON messages (priority, due_at, id) WHERE status = 'queued';
        CREATE TABLE fallbacks (
            message_id INTEGER PRIMARY KEY REFERENCES messages (id),
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status = 'pending' OR status = 'queued' OR status = 'none'),
            fallback_id INTEGER REFERENCES messages (id),
            reason TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX fallbacks_pending ON fallbacks (message_id) WHERE status = 'pending';
        CREATE TRIGGER messages_email_failed AFTER UPDATE OF status ON messages
            WHEN NEW.status = 'failed' AND OLD.status != 'failed' AND NEW.channel = 'email' AND NEW.kind != 'system'
        BEGIN
            INSERT OR IGNORE INTO fallbacks (message_id, created_at, updated_at)
            VALUES (NEW.id, NEW.updated_at, NEW.updated_at);
        END;
        ALTER TABLE clients ADD COLUMN address TEXT;
        ALTER TABLE clients ADD COLUMN postal_code TEXT;
        ALTER TABLE clients ADD COLUMN city TEXT;
        """
    )
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'checkins'").fetchone()[0]
    new_sql = sql.replace("channel = 'sms' OR channel = 'email')", "channel = 'sms' OR channel = 'email' OR channel = 'phone')")
    if new_sql == sql:
        raise RuntimeError("checkins: the channel check is not as migration 0007 wrote it")
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'checkins'").fetchone()
    _rebuild(db, "checkins", new_sql)
    if seq is not None:  # ids are never reused (0010): the copy's sequence starts at the highest id left
        if db.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'checkins'", [seq[0]]).rowcount == 0:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('checkins', ?)", [seq[0]])


@migrations(name="0020_second_language")
def m0020_second_language(db):
    """A client's second language (caseload.languages): messages fall back to it before the
    organisation's language. Like `language`, an ISO 639-1 code or empty."""
    db.execute("ALTER TABLE clients ADD COLUMN second_language TEXT")


@migrations(name="0024_coach_day")
def m0024_coach_day(db):
    """The coach's day (caseload.attention, caseload.followups, caseload.conversations):
    - `follow_ups`: what a coach must do for a client by a date, for whom; done or open.
    - `attention_marks`: a client marked handled, or snoozed until a date, on the attention list;
      a reason newer than the mark brings the client back.
    - `replies.read_at` / `read_by`: a client's message that a person still has to read has
      read_at NULL (free text, a note); answers the software understood are read when they
      arrive. Replies from before this migration count as read, except free text of the last
      14 days.
    - `messages.author`: the coach who wrote a one-off message to one client (a conversation)."""
    db.executescript(
        """
        CREATE TABLE follow_ups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            what TEXT NOT NULL,
            due_date TEXT NOT NULL,
            assignee TEXT NOT NULL,
            author TEXT NOT NULL,
            created_at TEXT NOT NULL,
            done_at TEXT,
            done_by TEXT
        );
        CREATE INDEX follow_ups_client ON follow_ups (client_id, due_date);
        CREATE INDEX follow_ups_open ON follow_ups (assignee, due_date) WHERE done_at IS NULL;
        CREATE TABLE attention_marks (
            client_id INTEGER PRIMARY KEY REFERENCES clients (id),
            state TEXT NOT NULL CHECK (state = 'handled' OR state = 'snoozed'),
            until TEXT,
            at TEXT NOT NULL,
            author TEXT NOT NULL
        );
        ALTER TABLE replies ADD COLUMN read_at TEXT;
        ALTER TABLE replies ADD COLUMN read_by TEXT;
        ALTER TABLE messages ADD COLUMN author TEXT;
        """
    )
    db.execute("UPDATE replies SET read_at = received_at WHERE NOT (outcome = 'note' AND text IS NOT NULL"
               " AND client_id IS NOT NULL AND received_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-14 days'))")
    db.execute("CREATE INDEX replies_unread ON replies (client_id, received_at) WHERE read_at IS NULL")


@migrations(name="0027_split_plan")
def m0027_split_plan(db):
    """What a random split promised before anything was sent (caseload.reports.compare): the day
    it was made, the follow-up it needs, the outflow expected without any difference, and the
    smallest difference it can detect with those (80% power, two-sided 5%)."""
    for column in ("split_date TEXT", "split_follow_up_months INTEGER", "split_expected_pct REAL",
                   "split_mde_pp REAL", "split_outcome TEXT"):
        db.execute(f"ALTER TABLE segments ADD COLUMN {column}")


@migrations(name="0028_coach_periods")
def m0028_coach_periods(db):
    """Who coached a client when (caseload.coaches): one row per period with one coach, from
    `since` until `until` (UTC moments; NULL: the current coach), and who made the change. At most
    one open period per client. Reports ask for the coach of a cohort on its start date
    (caseload.coaches.on_day_sql) through the index on (client_id, since, until, coach).

    Backfill: history before this migration is not known. Every client with a coach gets one open
    period with that coach, from its intake date (or, without one, when it was created)."""
    db.executescript(
        """
        CREATE TABLE coach_periods (
            id INTEGER PRIMARY KEY,
            client_id INTEGER NOT NULL REFERENCES clients (id),
            coach TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT,
            author TEXT
        );
        CREATE INDEX coach_periods_day ON coach_periods (client_id, since, until, coach);
        CREATE UNIQUE INDEX coach_periods_open ON coach_periods (client_id) WHERE until IS NULL;
        INSERT INTO coach_periods (client_id, coach, since)
            SELECT id, coach, COALESCE(NULLIF(intake_date, '') || 'T00:00:00Z', created_at) FROM clients
            WHERE coach IS NOT NULL AND coach != '' ORDER BY id;
        """
    )
