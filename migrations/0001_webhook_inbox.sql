-- Stakha webhooks: the inbox (idempotency by webhook-id) and the latest
-- state of every application, per team.

CREATE TABLE webhook_events (
    webhook_id      text PRIMARY KEY,
    team_id         text,
    application_id  text,
    type            text NOT NULL,
    event_created_at timestamptz,
    received_at     timestamptz NOT NULL DEFAULT now(),
    -- The raw event, kept for audit and replays; erased (NULL) when its
    -- application is deleted, because it holds candidate data.
    payload         jsonb
);
CREATE INDEX webhook_events_received_at ON webhook_events (received_at);
CREATE INDEX webhook_events_application ON webhook_events (team_id, application_id);

CREATE TABLE applications (
    team_id          text NOT NULL,
    application_id   text NOT NULL,
    job_id           text,
    status           text,
    candidate_id     text,
    candidate        jsonb,          -- NULL once deleted
    deleted          boolean NOT NULL DEFAULT false,
    -- Ordering of events: the event's created_at, then arrival.
    event_created_at timestamptz NOT NULL,
    event_seq        bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, application_id)
);
CREATE INDEX applications_job ON applications (team_id, job_id);

CREATE SEQUENCE webhook_event_seq;
