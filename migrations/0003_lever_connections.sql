-- Lever connections (one per Stakha team), OAuth states, and the shared
-- rate-limit buckets (one per Lever account).

CREATE TABLE lever_connections (
    team_id             text PRIMARY KEY,
    status              text NOT NULL CHECK (status IN ('active', 'revoked', 'disconnected')),
    lever_account_id    text,
    authorizing_user_id text,
    service_user_id     text,
    service_user_name   text,
    scopes              text[] NOT NULL DEFAULT '{}',
    -- Sealed with AES-256-GCM ("v1.<key id>.<nonce|ciphertext|tag>"); NULL once erased.
    access_token_enc    text,
    refresh_token_enc   text,
    access_expires_at   timestamptz,
    connected_at        timestamptz,
    refreshed_at        timestamptz,
    revoked_at          timestamptz,
    last_error          text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lever_connections_account ON lever_connections (lever_account_id);

-- `state` values of the authorize flow, stored hashed (SHA-256 hex), single use.
CREATE TABLE oauth_states (
    state_hash  text PRIMARY KEY,
    team_id     text NOT NULL,
    return_url  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);

-- A token bucket per Lever account, shared by every instance (SPEC 7).
CREATE TABLE lever_rate_buckets (
    lever_account_id text PRIMARY KEY,
    tokens           double precision NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Connections change status: workers LISTEN to resume parked deliveries.
CREATE FUNCTION sl_notify_connections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sl_connections', NEW.team_id);
    RETURN NULL;
END $$;
CREATE TRIGGER lever_connections_notify AFTER INSERT OR UPDATE OF status ON lever_connections
    FOR EACH ROW EXECUTE FUNCTION sl_notify_connections();
