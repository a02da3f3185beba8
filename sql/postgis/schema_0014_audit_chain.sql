-- Audit trail, round 2: writers never wait; the chain is sealed after commit; the app role cannot change it.
--
-- audit_event rows are now inserted WITHOUT a chain: seq from audit_event_seq, the canonical event bytes
-- (which carry their own seq and recorded_at) and recorded_at. No lock is taken on insert, so a long
-- transaction that wrote an audit row blocks nobody. An AFTER INSERT trigger notes the seq in audit_pending.
-- audit_seal() (SECURITY DEFINER, a short transaction of its own, under its own advisory lock) appends the
-- committed pending events to audit_chain in seq order: pos 1, 2, 3 ... with
--     hash = sha256(prev_hash || event_bytes),  prev_hash of pos 1 = 32 zero bytes.
-- An event whose transaction is still open is chained by a later seal (its position follows commit order;
-- seq gaps from rollbacks are expected). Round 1's rows, chained by the old trigger with the same formula,
-- are copied into audit_chain in seq order, so old databases stay verifiable.
-- audit_checkpoint keeps the daily checkpoints (last pos, seq and hash at the end of a day in China time).
-- Every audit_* table refuses UPDATE, DELETE and TRUNCATE by trigger; the application role expro_app (created
-- here when the migrating user may create roles) has only SELECT and INSERT on them (SELECT on audit_chain:
-- only audit_seal() writes it) and owns the application's other tables (so the import can ANALYZE them).

DROP TRIGGER IF EXISTS audit_event_chain_trg ON audit_event;
DROP FUNCTION IF EXISTS audit_event_chain();
ALTER TABLE audit_event ALTER COLUMN seq SET DEFAULT nextval('audit_event_seq');
ALTER TABLE audit_event ALTER COLUMN prev_hash DROP NOT NULL;
ALTER TABLE audit_event ALTER COLUMN hash DROP NOT NULL;
COMMENT ON COLUMN audit_event.prev_hash IS 'round 1 only (copied to audit_chain by migration 0014); NULL for later rows';
COMMENT ON COLUMN audit_event.hash IS 'round 1 only (copied to audit_chain by migration 0014); NULL for later rows';

CREATE TABLE audit_chain (
    pos         bigint PRIMARY KEY CHECK (pos >= 1),
    seq         bigint NOT NULL UNIQUE REFERENCES audit_event(seq),
    prev_hash   bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    sealed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE audit_pending (
    seq         bigint PRIMARY KEY REFERENCES audit_event(seq)
);

CREATE TABLE audit_checkpoint (
    day         date PRIMARY KEY,              -- a day in China time (Asia/Shanghai)
    pos         bigint NOT NULL CHECK (pos >= 0),   -- 0: the chain was still empty
    seq         bigint,
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    events      bigint NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- round 1's chained rows, in seq order
INSERT INTO audit_chain (pos, seq, prev_hash, hash)
SELECT row_number() OVER (ORDER BY seq), seq, prev_hash, hash FROM audit_event ORDER BY seq;

CREATE FUNCTION audit_event_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_pending (seq) VALUES (NEW.seq);
    RETURN NULL;
END $$;

CREATE TRIGGER audit_event_pending_trg AFTER INSERT ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_pending();

-- Chain every committed pending event; returns how many were chained. wait = false: give up at once (0)
-- when another seal holds the lock. Call it in a transaction of its own (it holds the lock to its end).
CREATE FUNCTION audit_seal(wait boolean DEFAULT true) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    last_pos  bigint;
    last_hash bytea;
    r         record;
    n         integer := 0;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit_seal() needs READ COMMITTED' USING ERRCODE = 'invalid_transaction_state';
    END IF;
    IF wait THEN
        PERFORM pg_advisory_xact_lock(727274002);
    ELSIF NOT pg_try_advisory_xact_lock(727274002) THEN
        RETURN 0;
    END IF;
    -- each statement below takes a new snapshot, after the lock: it sees every earlier seal
    SELECT pos, hash INTO last_pos, last_hash FROM audit_chain ORDER BY pos DESC LIMIT 1;
    IF last_pos IS NULL THEN
        last_pos := 0;
        last_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    END IF;
    FOR r IN SELECT e.seq, e.event_bytes FROM audit_pending p JOIN audit_event e ON e.seq = p.seq
             ORDER BY e.seq LOOP
        last_pos := last_pos + 1;
        INSERT INTO audit_chain (pos, seq, prev_hash, hash)
        VALUES (last_pos, r.seq, last_hash, sha256(last_hash || r.event_bytes));
        last_hash := sha256(last_hash || r.event_bytes);
        DELETE FROM audit_pending WHERE seq = r.seq;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- audit_pending rows are removed by audit_seal() only (it runs as the owner, with this flag set)
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'audit_pending' AND TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = OLD.seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_pending_no_update BEFORE UPDATE OR DELETE ON audit_pending
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_pending_no_truncate BEFORE TRUNCATE ON audit_pending
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_chain, audit_checkpoint, audit_pending FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_seal(boolean) FROM PUBLIC;

-- The application role. Idempotent; run by the migration and again by expro.db.migrate after every
-- upgrade (so that tables created by later migrations are covered). Returns false, changing nothing, when
-- the migrating user may neither create the role nor already belongs to it: then only the triggers guard
-- the audit tables.
CREATE FUNCTION expro_app_setup() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    me   name := current_user;
    r    record;
BEGIN
    IF to_regrole('expro_app') IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = me AND (rolsuper OR rolcreaterole)) THEN
            RETURN false;
        END IF;
        BEGIN
            CREATE ROLE expro_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database of the cluster
        END;
    END IF;
    IF NOT pg_has_role(me, 'expro_app', 'MEMBER') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = me AND (rolsuper OR rolcreaterole)) THEN
            RETURN false;
        END IF;
        EXECUTE format('GRANT expro_app TO %I', me);
    END IF;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO expro_app', current_database());
    GRANT USAGE ON SCHEMA public TO expro_app;
    -- the application's tables, views and sequences belong to it (ANALYZE in the import needs the owner) ...
    FOR r IN
        SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND c.relname NOT LIKE 'audit\_%' AND c.relname <> 'alembic_version'
          AND c.relowner <> 'expro_app'::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                                                AND d.classid = 'pg_class'::regclass AND d.refobjsubid > 0))
    LOOP
        IF r.relkind = 'S' THEN
            EXECUTE format('ALTER SEQUENCE %s OWNER TO expro_app', r.rel);
        ELSIF r.relkind IN ('v', 'm') THEN
            EXECUTE format('ALTER %s %s OWNER TO expro_app',
                           CASE r.relkind WHEN 'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END, r.rel);
        ELSE
            EXECUTE format('ALTER TABLE %s OWNER TO expro_app', r.rel);
        END IF;
    END LOOP;
    GRANT SELECT ON alembic_version TO expro_app;
    -- ... the audit tables do not: SELECT and INSERT only (audit_chain is written by audit_seal() alone)
    FOR r IN
        SELECT c.oid::regclass AS rel, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname LIKE 'audit\_%'
    LOOP
        IF pg_has_role('expro_app', (SELECT relowner FROM pg_class WHERE oid = r.rel), 'USAGE') THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %I', r.rel, me);
        END IF;
        EXECUTE format('REVOKE ALL ON %s FROM expro_app', r.rel);
        IF r.relname = 'audit_chain' THEN
            EXECUTE format('GRANT SELECT ON %s TO expro_app', r.rel);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT ON %s TO expro_app', r.rel);
        END IF;
    END LOOP;
    GRANT USAGE, SELECT ON SEQUENCE audit_event_seq TO expro_app;
    GRANT EXECUTE ON FUNCTION audit_seal(boolean) TO expro_app;
    -- tables a later migration creates get the application's DML until migrate() hands them over
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO expro_app', me);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
                   'GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO expro_app', me);
    RETURN true;
END $$;
REVOKE ALL ON FUNCTION expro_app_setup() FROM PUBLIC;
