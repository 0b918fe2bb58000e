-- Job syncs and the delivery queue, and the function that ingests one
-- webhook event (inbox row, latest application state, deliveries) so that
-- a batch of events is one statement and one transaction.

CREATE TABLE job_syncs (
    team_id          text NOT NULL,
    job_id           text NOT NULL,
    lever_posting_id text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, job_id)
);

-- One row per (team, application, posting). Cancelled rows are revived by
-- a later enqueue, keeping the Lever ids of steps already done.
CREATE TABLE deliveries (
    id                   bigserial PRIMARY KEY,
    team_id              text NOT NULL,
    application_id       text NOT NULL,
    job_id               text NOT NULL,
    lever_posting_id     text NOT NULL,
    state                text NOT NULL DEFAULT 'pending' CHECK (state IN
                         ('pending', 'running', 'retrying', 'delivered', 'dead', 'parked',
                          'cancelled')),
    attempts             integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),
    lease_owner          text,
    lease_expires_at     timestamptz,
    last_error           text,
    lever_opportunity_id text,
    lever_note_id        text,
    first_attempt_at     timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    delivered_at         timestamptz,
    UNIQUE (team_id, application_id, lever_posting_id)
);
-- The claim query reads only due work: a small partial index however many
-- rows are delivered.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_leases ON deliveries (lease_expires_at) WHERE state = 'running';
CREATE INDEX deliveries_job ON deliveries (team_id, job_id, state);

-- Every attempt, for the deliveries API and for operators; kept apart from
-- the hot queue rows.
CREATE TABLE delivery_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    started_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms  integer,
    endpoint     text,
    http_status  integer,
    error        text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, started_at);

-- Workers LISTEN on sl_deliveries; one notification per transaction that
-- makes work due.
CREATE FUNCTION sl_notify_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sl_deliveries', '');
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_notify AFTER INSERT OR UPDATE OF state ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION sl_notify_deliveries();

-- Brings the deliveries of one application in line with its stored state:
-- undelivered work that no longer applies (job changed, status back to
-- "added", sync gone) is cancelled; an eligible application of a synced
-- job gets a delivery unless it already has one. Returns rows enqueued.
CREATE FUNCTION sl_sync_application(p_team text, p_app text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    a applications;
    v_posting text;
    v_count integer;
BEGIN
    SELECT * INTO a FROM applications WHERE team_id = p_team AND application_id = p_app;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    SELECT lever_posting_id INTO v_posting
      FROM job_syncs WHERE team_id = p_team AND job_id = a.job_id;
    UPDATE deliveries
       SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
     WHERE team_id = p_team AND application_id = p_app
       AND state NOT IN ('delivered', 'cancelled')
       AND (a.deleted OR a.status = 'added' OR job_id IS DISTINCT FROM a.job_id
            OR lever_posting_id IS DISTINCT FROM v_posting);
    IF v_posting IS NULL OR a.deleted OR a.status = 'added' THEN
        RETURN 0;
    END IF;
    INSERT INTO deliveries AS d (team_id, application_id, job_id, lever_posting_id)
    VALUES (p_team, p_app, a.job_id, v_posting)
    ON CONFLICT (team_id, application_id, lever_posting_id) DO UPDATE
       SET state = 'pending', job_id = EXCLUDED.job_id, attempts = 0, next_attempt_at = now(),
           last_error = NULL, updated_at = now()
     WHERE d.state = 'cancelled';
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END $$;

-- Ingests one verified, validated event. Returns 'stored' or 'duplicate'.
-- Application state follows the newest event by (created_at, arrival), so
-- a retried older event never rolls an application back; a deletion is
-- final and erases the candidate data, in the inbox too.
CREATE FUNCTION sl_ingest_event(p_webhook_id text, p_event jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_type text := p_event->>'type';
    v_team text := p_event->'data'->>'team_id';
    v_app  text := p_event->'data'->'application'->>'id';
    v_at   timestamptz := COALESCE((p_event->>'created_at')::timestamptz, now());
    v_seq  bigint := nextval('webhook_event_seq');
    v_cand jsonb := p_event->'data'->'candidate';
BEGIN
    IF v_type NOT IN ('application.created', 'application.updated', 'application.deleted') THEN
        v_team := NULL;
        v_app := NULL;
    END IF;
    INSERT INTO webhook_events (webhook_id, team_id, application_id, type, event_created_at, payload)
    VALUES (p_webhook_id, v_team, v_app, v_type, v_at, p_event)
    ON CONFLICT (webhook_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    IF v_app IS NULL THEN
        RETURN 'stored';
    END IF;

    IF v_type = 'application.deleted' THEN
        INSERT INTO applications AS a (team_id, application_id, deleted, event_created_at, event_seq)
        VALUES (v_team, v_app, true, v_at, v_seq)
        ON CONFLICT (team_id, application_id) DO UPDATE
           SET deleted = true, candidate = NULL, updated_at = now();
        UPDATE webhook_events SET payload = NULL
         WHERE team_id = v_team AND application_id = v_app AND payload IS NOT NULL;
        PERFORM sl_sync_application(v_team, v_app);
        RETURN 'stored';
    END IF;

    INSERT INTO applications AS a (team_id, application_id, job_id, status, candidate_id,
                                   candidate, event_created_at, event_seq)
    VALUES (v_team, v_app, p_event->'data'->'application'->>'job_id',
            p_event->'data'->'application'->>'status', v_cand->>'id', v_cand, v_at, v_seq)
    ON CONFLICT (team_id, application_id) DO UPDATE
       SET job_id = EXCLUDED.job_id, status = EXCLUDED.status,
           candidate_id = EXCLUDED.candidate_id, candidate = EXCLUDED.candidate,
           event_created_at = EXCLUDED.event_created_at, event_seq = EXCLUDED.event_seq,
           updated_at = now()
     WHERE NOT a.deleted
       AND (a.event_created_at, a.event_seq) < (EXCLUDED.event_created_at, EXCLUDED.event_seq);
    IF NOT FOUND THEN
        -- An older event, or one about a deleted application: kept in the
        -- inbox for the record, without candidate data if deleted.
        UPDATE webhook_events e SET payload = NULL
          FROM applications a
         WHERE e.webhook_id = p_webhook_id AND a.team_id = v_team
           AND a.application_id = v_app AND a.deleted;
        RETURN 'stored';
    END IF;
    -- Most events concern jobs that are not synced and applications without
    -- deliveries: two index probes decide that, before any further work.
    IF EXISTS (SELECT 1 FROM job_syncs WHERE team_id = v_team
                  AND job_id = p_event->'data'->'application'->>'job_id')
       OR EXISTS (SELECT 1 FROM deliveries WHERE team_id = v_team AND application_id = v_app) THEN
        PERFORM sl_sync_application(v_team, v_app);
    END IF;
    RETURN 'stored';
END $$;

-- A batch: [{"id": webhook-id, "event": {...}}, ...] in arrival order,
-- answered with 'stored' or 'duplicate' per event, in order. One statement,
-- so one transaction.
--
-- The common batch (only created/updated events, no webhook-id and no
-- application twice) is stored set-based: one statement for the inbox and
-- the applications together, one for the deliveries of synced jobs. Any
-- other batch takes sl_ingest_event() event by event, in arrival order, each
-- call seeing the previous ones; both paths give the same rows.
CREATE FUNCTION sl_ingest_batch(p_batch jsonb) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    item jsonb;
    v_fast boolean;
    v_results text[];
    v_kept text[];
    v_teams text[];
    v_apps text[];
    v_jobs text[];
BEGIN
    SELECT bool_and(e->>'type' IN ('application.created', 'application.updated'))
           AND count(DISTINCT id) = count(*)
           AND count(DISTINCT (e->'data'->>'team_id', e->'data'->'application'->>'id')) = count(*)
      INTO v_fast
      FROM (SELECT value->>'id' AS id, value->'event' AS e
              FROM jsonb_array_elements(p_batch)) b;
    IF NOT coalesce(v_fast, false) THEN
        FOR item IN SELECT value FROM jsonb_array_elements(p_batch) LOOP
            RETURN NEXT sl_ingest_event(item->>'id', item->'event');
        END LOOP;
        RETURN;
    END IF;

    WITH items AS (
        SELECT ord, value->>'id' AS id, value->'event' AS e,
               COALESCE((value->'event'->>'created_at')::timestamptz, now()) AS at,
               nextval('webhook_event_seq') AS seq
          FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS t(value, ord)),
    stored AS (
        INSERT INTO webhook_events (webhook_id, team_id, application_id, type,
                                    event_created_at, payload)
        SELECT id, e->'data'->>'team_id', e->'data'->'application'->>'id', e->>'type', at, e
          FROM items ORDER BY ord
        ON CONFLICT (webhook_id) DO NOTHING
        RETURNING webhook_id),
    applied AS (
        INSERT INTO applications AS a (team_id, application_id, job_id, status, candidate_id,
                                       candidate, event_created_at, event_seq)
        SELECT e->'data'->>'team_id', e->'data'->'application'->>'id',
               e->'data'->'application'->>'job_id', e->'data'->'application'->>'status',
               e->'data'->'candidate'->>'id', e->'data'->'candidate', at, seq
          FROM items JOIN stored ON stored.webhook_id = items.id
        ON CONFLICT (team_id, application_id) DO UPDATE
           SET job_id = EXCLUDED.job_id, status = EXCLUDED.status,
               candidate_id = EXCLUDED.candidate_id, candidate = EXCLUDED.candidate,
               event_created_at = EXCLUDED.event_created_at, event_seq = EXCLUDED.event_seq,
               updated_at = now()
         WHERE NOT a.deleted
           AND (a.event_created_at, a.event_seq) < (EXCLUDED.event_created_at, EXCLUDED.event_seq)
        RETURNING team_id, application_id, job_id)
    SELECT (SELECT array_agg(CASE WHEN s.webhook_id IS NULL THEN 'duplicate' ELSE 'stored' END
                             ORDER BY i.ord)
              FROM items i LEFT JOIN stored s ON s.webhook_id = i.id),
           (SELECT array_agg(i.id) FROM items i JOIN stored s ON s.webhook_id = i.id
             WHERE NOT EXISTS (SELECT 1 FROM applied p
                                WHERE p.team_id = i.e->'data'->>'team_id'
                                  AND p.application_id = i.e->'data'->'application'->>'id')),
           (SELECT array_agg(team_id) FROM applied),
           (SELECT array_agg(application_id) FROM applied),
           (SELECT array_agg(job_id) FROM applied)
      INTO v_results, v_kept, v_teams, v_apps, v_jobs;

    -- Stored but not applied: older events, or events about deleted
    -- applications, whose candidate data must not stay in the inbox.
    IF v_kept IS NOT NULL THEN
        UPDATE webhook_events e SET payload = NULL
          FROM applications a
         WHERE e.webhook_id = ANY (v_kept) AND a.team_id = e.team_id
           AND a.application_id = e.application_id AND a.deleted;
    END IF;
    IF v_apps IS NOT NULL THEN
        PERFORM sl_sync_application(t.team, t.app)
           FROM unnest(v_teams, v_apps, v_jobs) AS t(team, app, job)
          WHERE EXISTS (SELECT 1 FROM job_syncs s WHERE s.team_id = t.team AND s.job_id = t.job)
             OR EXISTS (SELECT 1 FROM deliveries d
                         WHERE d.team_id = t.team AND d.application_id = t.app);
    END IF;
    RETURN QUERY SELECT unnest(v_results);
END $$;

-- RFC 3339 UTC text of a time, as the API answers it.
CREATE FUNCTION sl_rfc3339(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
