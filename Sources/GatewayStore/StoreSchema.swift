// The queue's SQL schema and its migrations. Times are integer milliseconds since the
// Unix epoch (UTC): compact, indexable, and unambiguous.

import GRDB

enum StoreSchema {
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: messages, deliveries, attempts, receipts, reports, audit") { db in
            try db.execute(sql: """
                CREATE TABLE message (
                    id INTEGER PRIMARY KEY,
                    sender TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    priority TEXT NOT NULL,
                    classification TEXT NOT NULL,
                    subject TEXT,
                    case_reference TEXT,
                    created_at INTEGER NOT NULL,
                    accepted_at INTEGER NOT NULL,
                    expires_at INTEGER,
                    content_digest TEXT NOT NULL,
                    source_file TEXT,
                    jws BLOB NOT NULL,
                    UNIQUE (sender, message_id)
                );
                CREATE INDEX message_accepted ON message(accepted_at);

                CREATE TABLE delivery (
                    id INTEGER PRIMARY KEY,
                    message INTEGER NOT NULL REFERENCES message(id) ON DELETE CASCADE,
                    recipient TEXT NOT NULL,
                    endpoint TEXT NOT NULL,
                    state TEXT NOT NULL,
                    priority_rank INTEGER NOT NULL,
                    accepted_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER,
                    updated_at INTEGER NOT NULL,
                    reason TEXT,
                    UNIQUE (message, recipient)
                );
                -- The scheduler's two lookups: the queued, by priority then age; the deferred
                -- that have come due. Partial indexes keep them small whatever the backlog.
                CREATE INDEX delivery_queued ON delivery(endpoint, priority_rank, id) WHERE state = 'queued';
                CREATE INDEX delivery_deferred ON delivery(endpoint, priority_rank, next_attempt_at) WHERE state = 'deferred';
                -- Covers queue stats (counts by endpoint and state, pending ages) without
                -- touching the table; also the operator's filters by state.
                CREATE INDEX delivery_state ON delivery(state, endpoint, accepted_at);
                CREATE INDEX delivery_recipient ON delivery(recipient);

                CREATE TABLE attempt (
                    id INTEGER PRIMARY KEY,
                    delivery INTEGER NOT NULL REFERENCES delivery(id) ON DELETE CASCADE,
                    started_at INTEGER NOT NULL,
                    duration_ms INTEGER NOT NULL,
                    endpoint TEXT NOT NULL,
                    http_status INTEGER,
                    outcome TEXT NOT NULL,
                    error TEXT
                );
                CREATE INDEX attempt_delivery ON attempt(delivery);

                CREATE TABLE receipt (
                    delivery INTEGER PRIMARY KEY REFERENCES delivery(id) ON DELETE CASCADE,
                    received_at INTEGER NOT NULL,
                    status TEXT,
                    jws BLOB NOT NULL
                );

                -- Reports owed to units: recorded in the same transaction as the transition,
                -- written to SPOOL/<unit>/reports/ afterwards (transactional outbox).
                CREATE TABLE report (
                    id INTEGER PRIMARY KEY,
                    unit TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    message INTEGER,
                    recipient TEXT,
                    body TEXT NOT NULL,
                    -- 1: body is the final file (already signed); 0: the writer signs it.
                    signed INTEGER NOT NULL DEFAULT 0,
                    file_name TEXT,
                    created_at INTEGER NOT NULL,
                    written_at INTEGER
                );
                CREATE INDEX report_owed ON report(id) WHERE written_at IS NULL;

                CREATE TABLE audit (
                    seq INTEGER PRIMARY KEY,
                    at INTEGER NOT NULL,
                    event TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    sender TEXT,
                    message_id TEXT,
                    recipient TEXT,
                    details TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE INDEX audit_message ON audit(sender, message_id);

                CREATE TABLE audit_checkpoint (
                    seq INTEGER PRIMARY KEY,
                    hash TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    signature TEXT NOT NULL
                );

                CREATE TABLE endpoint_state (
                    endpoint TEXT PRIMARY KEY,
                    breaker TEXT NOT NULL,
                    consecutive_failures INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    detail TEXT
                );
                """)
        }
        migrator.registerMigration("v2: accepted reports awaiting their file system sync") { db in
            // The pickup writes each accepted report itself right after the commit and
            // flushes the file system about once a second; until then the report is listed
            // here, and a start after a crash writes it again.
            try db.execute(sql: """
                CREATE TABLE accepted_report_unsynced (
                    message INTEGER NOT NULL REFERENCES message(id) ON DELETE CASCADE,
                    source_file TEXT NOT NULL,
                    PRIMARY KEY (message, source_file)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3: indexes for the once-a-second housekeeping") { db in
            // Expiry and retention look every second: by index, not by reading every row
            // while the writers wait.
            try db.execute(sql: """
                CREATE INDEX message_expires ON message(expires_at) WHERE expires_at IS NOT NULL;
                CREATE INDEX report_written ON report(written_at) WHERE written_at IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4: protected JWS headers stored once") { db in
            // See CompactJWS: message.jws without its protected header, which is kept here.
            try db.execute(sql: """
                CREATE TABLE jws_header (id INTEGER PRIMARY KEY, protected TEXT NOT NULL UNIQUE);
                ALTER TABLE message ADD COLUMN jws_header INTEGER REFERENCES jws_header(id);
                """)
        }
        migrator.registerMigration("v5: headers no message uses are pruned") { db in
            // Retention deletes the protected headers its pruned messages used once no other
            // message uses them (one a second of traffic: 3.9 KB each, ~340 MB a day if never
            // pruned). The index makes that check, and the foreign-key check, a lookup.
            try db.execute(sql: "CREATE INDEX message_jws_header ON message(jws_header)")
        }
        migrator.registerMigration("v6: receipts stored like messages, reports point at them") { db in
            // A receipt is kept in the agency's flattened JWS form with its protected header
            // (x5c: ~2 KB, the same for a second of an agency's receipts) in jws_header; a
            // delivered report's body has a placeholder where the receipt goes and names the
            // delivery whose receipt it is: the receipt is written to the queue once, not
            // three times (receipt, report body, then the body dropped again). Retention
            // keeps a message while a report about it is owed (report_owed_message).
            try db.execute(sql: """
                ALTER TABLE receipt ADD COLUMN jws_header INTEGER REFERENCES jws_header(id);
                CREATE INDEX receipt_jws_header ON receipt(jws_header) WHERE jws_header IS NOT NULL;
                ALTER TABLE report ADD COLUMN receipt_of INTEGER;
                CREATE INDEX report_owed_message ON report(message) WHERE written_at IS NULL;
                """)
        }
        migrator.registerMigration("v7: settings the daemon keeps between runs") { db in
            // routing: the routes and ceilings the waiting deliveries were last checked
            // against, so that a start or reload with the same ones does not read them all.
            try db.execute(sql: "CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        }
        migrator.registerMigration("v8: messages found by their id alone") { db in
            // Agencies de-duplicate by message id (the Idempotency-Key), so an id one unit
            // used is refused to another at pickup: the index makes that check a lookup, and
            // gatewayctl's look-ups by id (show, hold ID, ...) no scan of every message.
            try db.execute(sql: "CREATE INDEX message_by_id ON message(message_id)")
        }
        migrator.registerMigration("v9: holds gatewayd made before its marker carry it") { db in
            // gatewayd wrote "held at reload: " and then "held: " before its holds were marked
            // (QueueStore.gatewayHoldPrefix); these are its phrasings (a route gone, a ceiling
            // lowered). Marked, gatewayd releases them when a configuration allows them again,
            // as it does its later holds. An operator's holds stay as they are.
            for (prefix, phrasings) in [
                ("held: ", ["% is no longer routed to endpoint %", "% is above the ceiling of endpoint %", "held: no route to % in the configuration%"]),
                ("held at reload: ", ["% is above the ceiling of endpoint %", "held at reload: no route to % in the configuration%"]),
            ] {
                try db.execute(sql: """
                    UPDATE delivery SET reason = ? || substr(reason, ?)
                    WHERE state = 'held' AND substr(reason, 1, ?) = ?
                      AND (\(phrasings.map { _ in "reason LIKE ?" }.joined(separator: " OR ")))
                    """, arguments: StatementArguments([QueueStore.gatewayHoldPrefix, prefix.count + 1, prefix.count, prefix] as [any DatabaseValueConvertible]
                                                       + phrasings.map { $0 as any DatabaseValueConvertible }))
            }
        }
        return migrator
    }
}
