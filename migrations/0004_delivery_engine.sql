-- The delivery engine (SPEC 7): wake-ups only when work becomes due,
-- deliveries that follow their connection's status, and indexes for the
-- deliveries API and the /metrics gauges.

-- 0002 notified on every statement that touched a state, claims and
-- completions included: every worker of every instance woke up for each of
-- them to find nothing. Notify only when a row becomes pending or retrying
-- (notifications with the same payload fold into one per transaction).
DROP TRIGGER deliveries_notify ON deliveries;
CREATE TRIGGER deliveries_notify AFTER INSERT OR UPDATE OF state ON deliveries
    FOR EACH ROW WHEN (NEW.state IN ('pending', 'retrying'))
    EXECUTE FUNCTION sl_notify_deliveries();

-- A connection that stops being active parks its team's waiting deliveries
-- (they use no attempts meanwhile); one that becomes active again queues
-- them at once. Running deliveries park themselves when the token store
-- refuses them. Done here, in the transaction that changes the status, so
-- that no code path that changes a connection can forget it.
CREATE FUNCTION sl_connection_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'active' THEN
        UPDATE deliveries
           SET state = 'pending', next_attempt_at = now(), updated_at = now()
         WHERE team_id = NEW.team_id AND state = 'parked';
    ELSE
        UPDATE deliveries
           SET state = 'parked', updated_at = now(),
               last_error = 'connection ' || NEW.status || ': waiting for the team to '
                            'authenticate on Lever again'
         WHERE team_id = NEW.team_id AND state IN ('pending', 'retrying');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lever_connections_deliveries_insert AFTER INSERT ON lever_connections
    FOR EACH ROW EXECUTE FUNCTION sl_connection_deliveries();
CREATE TRIGGER lever_connections_deliveries_update AFTER UPDATE OF status ON lever_connections
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION sl_connection_deliveries();

-- The deliveries API pages through a team's deliveries by id.
CREATE INDEX deliveries_team ON deliveries (team_id, id);
-- Gauges count dead and parked rows without reading delivered ones.
CREATE INDEX deliveries_stuck ON deliveries (state) WHERE state IN ('dead', 'parked');
