-- 0001_init.sql — the first schema of the PostgreSQL store (docs/postgres.md).
--
-- Every write of a (user, host) locks its owner row first (uns_lock_owner),
-- so one owner's writes serialise in the database and its feed sequence
-- (owner.head) grows in commit order; there is no global sequence. The
-- write logic runs here, in one function per write, so a whole group of
-- writes is one round trip (a pipeline of SELECTs in one transaction).
-- Times are parameters (UNS's clock), never now(). Codes returned are
-- uns_err values: 0 OK, 5 NOT_FOUND, 8 RESOURCE_EXHAUSTED,
-- 9 FAILED_PRECONDITION. Enum values are those of notifications.proto.

CREATE TABLE uns_owner (
	usr text COLLATE "C" NOT NULL,
	host text COLLATE "C" NOT NULL,
	head bigint NOT NULL DEFAULT 0,   -- feed sequence of the newest change
	live integer NOT NULL DEFAULT 0,  -- active notifications (expired too)
	newest bigint NOT NULL DEFAULT 0, -- newest creation time (ms)
	PRIMARY KEY (usr, host)
);

-- A notification: what the app posted (body, a protobuf Notification with
-- the server's fields blank) and the server's fields as columns.
CREATE TABLE uns_notification (
	id text COLLATE "C" PRIMARY KEY,
	usr text COLLATE "C" NOT NULL,
	host text COLLATE "C" NOT NULL,
	app_id text COLLATE "C" NOT NULL,
	group_name text COLLATE "C" NOT NULL,
	body bytea NOT NULL,
	targets smallint[] NOT NULL,       -- target platforms; {} = all
	fallback_ms bigint NOT NULL,       -- iOS fallback delay; 0 = none
	created bigint NOT NULL,
	modified bigint NOT NULL,
	expires bigint NOT NULL,
	version bigint NOT NULL,
	read_state smallint NOT NULL,
	action_state smallint NOT NULL,
	status smallint NOT NULL,          -- 1 active, 2 deleted
	feed_seq bigint NOT NULL
);
CREATE INDEX uns_notification_app ON uns_notification (usr, host, app_id);
CREATE INDEX uns_notification_history
	ON uns_notification (usr, host, created DESC, id);
CREATE INDEX uns_notification_expires ON uns_notification (expires);

-- One row per notification of the feed, at the seq of its latest change;
-- a removed one stays as a tombstone until drop_at.
CREATE TABLE uns_feed (
	usr text COLLATE "C" NOT NULL,
	host text COLLATE "C" NOT NULL,
	seq bigint NOT NULL,
	id text COLLATE "C" NOT NULL,
	removed smallint NOT NULL,         -- 0 none, 1 deleted, 2 expired
	version bigint NOT NULL,
	drop_at bigint,                    -- NULL = kept
	PRIMARY KEY (usr, host, seq)
);
CREATE INDEX uns_feed_drop ON uns_feed (drop_at) WHERE drop_at IS NOT NULL;

CREATE TABLE uns_subscription (
	unsid text COLLATE "C" PRIMARY KEY,
	usr text COLLATE "C" NOT NULL,
	host text COLLATE "C" NOT NULL,
	device_id text COLLATE "C" NOT NULL,
	platform smallint NOT NULL,
	body bytea NOT NULL,               -- protobuf Subscription, as given
	created bigint NOT NULL,
	expires bigint NOT NULL,
	has_delivery boolean NOT NULL DEFAULT false,
	last_attempt bigint NOT NULL DEFAULT 0,
	last_success bigint NOT NULL DEFAULT 0,
	failures integer NOT NULL DEFAULT 0,
	last_error text NOT NULL DEFAULT '',
	dead boolean NOT NULL DEFAULT false,
	delivered bigint NOT NULL DEFAULT 0,
	failed bigint NOT NULL DEFAULT 0
);
CREATE INDEX uns_subscription_owner
	ON uns_subscription (usr, host, device_id);
CREATE INDEX uns_subscription_expires ON uns_subscription (expires);

-- Taps: one pending per subscription (ref = unsid) and one per iOS
-- fallback alert (ref = unsid:id). A claim leases a tap to an engine
-- (lease_owner, lease_until), durably. Rows come and go all the time:
-- autovacuum visits this table far more often than the default.
CREATE TABLE uns_outbox (
	ref text COLLATE "C" PRIMARY KEY,
	unsid text COLLATE "C" NOT NULL,
	usr text COLLATE "C" NOT NULL,
	host text COLLATE "C" NOT NULL,
	seq bigint NOT NULL,
	flags smallint NOT NULL,           -- 1 state changes only, 2 fallback
	due bigint NOT NULL,
	enqueued bigint NOT NULL,
	attempts bigint NOT NULL DEFAULT 0,
	subject text COLLATE "C" NOT NULL,
	lease_owner text,
	lease_until bigint NOT NULL DEFAULT 0
) WITH (autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX uns_outbox_due ON uns_outbox (due);
CREATE INDEX uns_outbox_unsid ON uns_outbox (unsid);

-- Pending iOS fallback checks, and the subscriptions that fetched them.
CREATE TABLE uns_fallback (
	id text COLLATE "C" PRIMARY KEY,
	usr text COLLATE "C" NOT NULL,
	host text COLLATE "C" NOT NULL,
	due bigint NOT NULL
);
CREATE INDEX uns_fallback_due ON uns_fallback (due);
CREATE TABLE uns_fetched (
	id text COLLATE "C" NOT NULL,
	unsid text COLLATE "C" NOT NULL,
	PRIMARY KEY (id, unsid)
);

-- The owner row of (usr, host), locked until the transaction ends.
CREATE FUNCTION uns_lock_owner(p_usr text, p_host text) RETURNS uns_owner
LANGUAGE plpgsql AS $$
DECLARE
	o uns_owner;
BEGIN
	SELECT * INTO o FROM uns_owner
	 WHERE usr = p_usr AND host = p_host FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO uns_owner (usr, host) VALUES (p_usr, p_host)
		ON CONFLICT DO NOTHING;
		SELECT * INTO o FROM uns_owner
		 WHERE usr = p_usr AND host = p_host FOR UPDATE;
	END IF;
	RETURN o;
END $$;

-- Moves a notification's feed row from p_old (0 = none) to p_new.
CREATE FUNCTION uns_feed_move(p_usr text, p_host text, p_old bigint,
	p_new bigint, p_id text, p_removed smallint, p_version bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF p_old <> 0 THEN
		DELETE FROM uns_feed
		 WHERE usr = p_usr AND host = p_host AND seq = p_old;
	END IF;
	INSERT INTO uns_feed (usr, host, seq, id, removed, version)
	VALUES (p_usr, p_host, p_new, p_id, p_removed, p_version);
END $$;

-- One tap per live, not dead subscription of (usr, host) with a push
-- transport that the change of notification p_id should reach (store.h
-- "outbox"); a pending tap coalesces: it keeps its due time and attempts
-- and takes the new head and subject. Returns the taps queued.
CREATE FUNCTION uns_taps(p_usr text, p_host text, p_now bigint,
	p_head bigint, p_id text, p_targets smallint[], p_state boolean,
	p_by text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	n integer;
BEGIN
	INSERT INTO uns_outbox AS t (ref, unsid, usr, host, seq, flags, due,
	                             enqueued, subject)
	SELECT s.unsid, s.unsid, p_usr, p_host, p_head,
	       CASE WHEN p_state THEN 1 ELSE 0 END, p_now, p_now, p_id
	  FROM uns_subscription s
	 WHERE s.usr = p_usr AND s.host = p_host AND s.expires > p_now
	   AND NOT s.dead AND s.platform NOT IN (0, 6)
	   AND (cardinality(p_targets) = 0 OR s.platform = ANY (p_targets))
	   AND NOT (p_state AND s.platform = 4)
	   AND s.unsid IS DISTINCT FROM p_by
	ON CONFLICT (ref) DO UPDATE
	   SET flags = (t.flags & excluded.flags & 1) | (excluded.flags & 2),
	       seq = excluded.seq, subject = excluded.subject;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

-- Removes an expired notification under its locked owner: an active one
-- leaves an "expired" tombstone (and taps), a deleted one keeps its
-- "deleted" tombstone; either tombstone is dropped p_ttl later.
-- Returns the taps queued; the owner row is updated here.
CREATE FUNCTION uns_expire(n uns_notification, p_now bigint, p_ttl bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	h bigint := n.feed_seq;
	taps integer := 0;
BEGIN
	DELETE FROM uns_notification WHERE id = n.id;
	IF n.status = 1 THEN
		UPDATE uns_owner SET live = greatest(live - 1, 0), head = head + 1
		 WHERE usr = n.usr AND host = n.host RETURNING head INTO h;
		PERFORM uns_feed_move(n.usr, n.host, n.feed_seq, h, n.id,
		                      2::smallint, n.version);
		taps := uns_taps(n.usr, n.host, p_now, h, n.id, n.targets, true,
		                 NULL);
	END IF;
	UPDATE uns_feed SET drop_at = p_now + p_ttl
	 WHERE usr = n.usr AND host = n.host AND seq = h;
	RETURN taps;
END $$;

-- (Re)schedules the fallback check of notification p_id.
CREATE FUNCTION uns_fallback_schedule(p_usr text, p_host text, p_id text,
	p_now bigint, p_old_ms bigint, p_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF p_old_ms > 0 OR p_ms > 0 THEN
		DELETE FROM uns_fallback WHERE id = p_id;
	END IF;
	IF p_ms > 0 THEN
		INSERT INTO uns_fallback (id, usr, host, due)
		VALUES (p_id, p_usr, p_host, p_now + p_ms);
	END IF;
END $$;

-- A Post: creates or replaces (by app id) a notification of (usr, host).
CREATE FUNCTION uns_post(p_usr text, p_host text, p_now bigint,
	p_new_id text, p_app_id text, p_group text, p_body bytea,
	p_targets smallint[], p_fallback_ms bigint, p_expires bigint,
	p_max_live integer, p_ttl bigint,
	OUT rc integer, OUT id text, OUT created bigint, OUT version bigint,
	OUT head bigint, OUT taps integer, OUT was_new boolean)
LANGUAGE plpgsql AS $$
DECLARE
	o uns_owner;
	old uns_notification;
	x uns_notification;
BEGIN
	rc := 0;
	taps := 0;
	o := uns_lock_owner(p_usr, p_host);
	SELECT * INTO old FROM uns_notification n
	 WHERE n.usr = p_usr AND n.host = p_host AND n.app_id = p_app_id
	   AND n.status = 1 AND n.expires > p_now
	 ORDER BY n.created DESC LIMIT 1;
	was_new := NOT FOUND;
	IF was_new AND o.live >= p_max_live THEN
		-- Expired ones still count until reclaimed: reclaim this
		-- owner's now, then look again.
		FOR x IN SELECT * FROM uns_notification n
		          WHERE n.usr = p_usr AND n.host = p_host
		            AND n.expires <= p_now LOOP
			taps := taps + uns_expire(x, p_now, p_ttl);
		END LOOP;
		SELECT * INTO o FROM uns_owner ow
		 WHERE ow.usr = p_usr AND ow.host = p_host;
		IF o.live >= p_max_live THEN
			rc := 8;
			head := o.head;
			RETURN;
		END IF;
	END IF;
	o.head := o.head + 1;
	IF was_new THEN
		id := p_new_id;
		created := CASE WHEN o.newest >= p_now THEN o.newest + 1
		                ELSE p_now END;
		version := 1;
		o.live := o.live + 1;
		o.newest := created;
		INSERT INTO uns_notification VALUES (id, p_usr, p_host, p_app_id,
			p_group, p_body, p_targets, p_fallback_ms, created, p_now,
			p_expires, 1, 1, 1, 1, o.head);
		PERFORM uns_feed_move(p_usr, p_host, 0, o.head, id, 0::smallint, 1);
		PERFORM uns_fallback_schedule(p_usr, p_host, id, p_now, 0,
		                              p_fallback_ms);
	ELSE
		id := old.id;
		created := old.created;
		version := old.version + 1;
		UPDATE uns_notification n
		   SET group_name = p_group, body = p_body, targets = p_targets,
		       fallback_ms = p_fallback_ms, modified = p_now,
		       expires = p_expires, version = old.version + 1,
		       read_state = 1, action_state = 1, feed_seq = o.head
		 WHERE n.id = old.id;
		PERFORM uns_feed_move(p_usr, p_host, old.feed_seq, o.head, id,
		                      0::smallint, old.version + 1);
		PERFORM uns_fallback_schedule(p_usr, p_host, id, p_now,
		                              old.fallback_ms, p_fallback_ms);
	END IF;
	taps := taps + uns_taps(p_usr, p_host, p_now, o.head, id, p_targets,
	                        false, NULL);
	UPDATE uns_owner ow SET head = o.head, live = o.live, newest = o.newest
	 WHERE ow.usr = p_usr AND ow.host = p_host;
	head := o.head;
END $$;

-- A state change (or delete) of a live notification, by server id or, if
-- p_id is NULL, by app id. The notification comes back as it is after.
CREATE FUNCTION uns_update(p_usr text, p_host text, p_now bigint,
	p_id text, p_app_id text, p_read smallint, p_action smallint,
	p_delete boolean, p_if_version bigint, p_by text,
	OUT rc integer, OUT moved boolean, OUT head bigint, OUT taps integer,
	OUT id text, OUT body bytea, OUT created bigint, OUT modified bigint,
	OUT expires bigint, OUT version bigint, OUT read_state smallint,
	OUT action_state smallint, OUT status smallint)
LANGUAGE plpgsql AS $$
DECLARE
	o uns_owner;
	n uns_notification;
	changed boolean := false;
BEGIN
	rc := 0;
	moved := false;
	taps := 0;
	o := uns_lock_owner(p_usr, p_host);
	IF p_id IS NOT NULL THEN
		SELECT * INTO n FROM uns_notification x
		 WHERE x.id = p_id AND x.usr = p_usr AND x.host = p_host
		   AND x.status = 1 AND x.expires > p_now;
	ELSE
		SELECT * INTO n FROM uns_notification x
		 WHERE x.usr = p_usr AND x.host = p_host AND x.app_id = p_app_id
		   AND x.status = 1 AND x.expires > p_now
		 ORDER BY x.created DESC LIMIT 1;
	END IF;
	IF NOT FOUND THEN
		rc := 5;
		RETURN;
	END IF;
	IF p_if_version <> 0 AND p_if_version <> n.version THEN
		rc := 9;
		version := n.version;
		RETURN;
	END IF;
	IF p_read <> 0 AND p_read <> n.read_state THEN
		n.read_state := p_read;
		changed := true;
	END IF;
	IF p_action <> 0 AND p_action <> n.action_state THEN
		n.action_state := p_action;
		changed := true;
	END IF;
	IF p_delete THEN
		n.status := 2;
		changed := true;
	END IF;
	IF changed THEN
		o.head := o.head + 1;
		IF p_delete THEN
			o.live := greatest(o.live - 1, 0);
		END IF;
		PERFORM uns_feed_move(p_usr, p_host, n.feed_seq, o.head, n.id,
		                      CASE WHEN p_delete THEN 1 ELSE 0 END::smallint,
		                      n.version + 1);
		n.version := n.version + 1;
		n.modified := p_now;
		n.feed_seq := o.head;
		UPDATE uns_notification x
		   SET read_state = n.read_state, action_state = n.action_state,
		       status = n.status, version = n.version,
		       modified = n.modified, feed_seq = n.feed_seq
		 WHERE x.id = n.id;
		taps := uns_taps(p_usr, p_host, p_now, o.head, n.id, n.targets,
		                 true, p_by);
		UPDATE uns_owner ow SET head = o.head, live = o.live
		 WHERE ow.usr = p_usr AND ow.host = p_host;
		moved := true;
	END IF;
	head := o.head;
	id := n.id;
	body := n.body;
	created := n.created;
	modified := n.modified;
	expires := n.expires;
	version := n.version;
	read_state := n.read_state;
	action_state := n.action_state;
	status := n.status;
END $$;

-- Subscribe: creates or renews the subscription of (usr, host, device).
-- Renewing keeps the UNSID and created time and revives a dead endpoint.
CREATE FUNCTION uns_sub_put(p_usr text, p_host text, p_now bigint,
	p_new_unsid text, p_device text, p_platform smallint, p_body bytea,
	p_lifetime bigint, OUT was_new boolean, OUT s uns_subscription)
LANGUAGE plpgsql AS $$
DECLARE
	cur text;
BEGIN
	PERFORM uns_lock_owner(p_usr, p_host);
	SELECT x.unsid INTO cur FROM uns_subscription x
	 WHERE x.usr = p_usr AND x.host = p_host AND x.device_id = p_device
	   AND x.expires > p_now LIMIT 1;
	was_new := NOT FOUND;
	IF was_new THEN
		INSERT INTO uns_subscription (unsid, usr, host, device_id, platform,
		                              body, created, expires)
		VALUES (p_new_unsid, p_usr, p_host, p_device, p_platform, p_body,
		        p_now, p_now + p_lifetime)
		RETURNING * INTO s;
	ELSE
		UPDATE uns_subscription x
		   SET platform = p_platform, body = p_body,
		       expires = p_now + p_lifetime, dead = false, failures = 0
		 WHERE x.unsid = cur RETURNING * INTO s;
	END IF;
END $$;

-- Unsubscribe: removes a live subscription of (usr, host) and its taps.
CREATE FUNCTION uns_sub_delete(p_usr text, p_host text, p_now bigint,
	p_unsid text) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
	PERFORM uns_lock_owner(p_usr, p_host);
	DELETE FROM uns_subscription
	 WHERE unsid = p_unsid AND usr = p_usr AND host = p_host
	   AND expires > p_now;
	IF NOT FOUND THEN
		RETURN 5;
	END IF;
	DELETE FROM uns_outbox WHERE unsid = p_unsid;
	RETURN 0;
END $$;

-- The outcome of one claimed tap (p_res: 0 delivered, 1 retry, 2 defer,
-- 3 drop, 4 dead); ends its lease. Returns whether a newer change
-- overwrote the tap while it was out (it stays pending, due now).
CREATE FUNCTION uns_settle(p_usr text, p_host text, p_now bigint,
	p_ref text, p_unsid text, p_seq bigint, p_res integer, p_due bigint,
	p_error text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	t uns_outbox;
	have boolean;
	newer boolean := false;
BEGIN
	PERFORM uns_lock_owner(p_usr, p_host);
	SELECT * INTO t FROM uns_outbox WHERE ref = p_ref;
	have := FOUND;
	IF p_res IN (0, 3) THEN
		IF have AND t.seq = p_seq THEN
			DELETE FROM uns_outbox WHERE ref = p_ref;
		ELSIF have THEN
			UPDATE uns_outbox SET lease_owner = NULL, lease_until = 0
			 WHERE ref = p_ref;
			newer := true;
		END IF;
	ELSIF p_res IN (1, 2) THEN
		IF have THEN
			UPDATE uns_outbox
			   SET due = p_due, attempts = attempts + (p_res = 1)::integer,
			       lease_owner = NULL, lease_until = 0
			 WHERE ref = p_ref;
		END IF;
	ELSE
		DELETE FROM uns_outbox WHERE unsid = p_unsid;
	END IF;
	IF p_res = 0 THEN
		UPDATE uns_subscription
		   SET has_delivery = true, last_attempt = p_now,
		       last_success = p_now, failures = 0,
		       delivered = delivered + 1
		 WHERE unsid = p_unsid;
	ELSIF p_res <> 2 THEN
		UPDATE uns_subscription
		   SET has_delivery = true, last_attempt = p_now,
		       failures = failures + 1, failed = failed + 1,
		       last_error = coalesce(p_error, ''),
		       dead = dead OR p_res = 4
		 WHERE unsid = p_unsid;
	END IF;
	RETURN newer;
END $$;

-- Records that p_unsid fetched notifications p_ids (those with a pending
-- fallback check only).
CREATE FUNCTION uns_fetched(p_unsid text, p_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO uns_fetched (id, unsid)
	SELECT f.id, p_unsid FROM uns_fallback f WHERE f.id = ANY (p_ids)
	ON CONFLICT DO NOTHING;
END $$;

-- Runs up to p_chunk due fallback checks, owners locked in order: each
-- check of a still-active notification queues one fallback tap per live
-- iOS subscription of its owner that has not fetched it. Returns the
-- checks run and the taps queued.
CREATE FUNCTION uns_fallback_run(p_now bigint, p_chunk integer,
	OUT checks integer, OUT queued integer)
LANGUAGE plpgsql AS $$
DECLARE
	f uns_fallback;
	o uns_owner;
	n integer;
BEGIN
	checks := 0;
	queued := 0;
	FOR f IN SELECT * FROM (SELECT * FROM uns_fallback WHERE due <= p_now
	                         ORDER BY due LIMIT p_chunk) d
	          ORDER BY d.usr, d.host, d.id LOOP
		o := uns_lock_owner(f.usr, f.host);
		checks := checks + 1;
		IF EXISTS (SELECT 1 FROM uns_notification x
		            WHERE x.id = f.id AND x.usr = f.usr AND x.host = f.host
		              AND x.status = 1 AND x.expires > p_now) THEN
			INSERT INTO uns_outbox AS t (ref, unsid, usr, host, seq, flags,
			                             due, enqueued, subject)
			SELECT s.unsid || ':' || f.id, s.unsid, f.usr, f.host, o.head,
			       2, p_now, p_now, f.id
			  FROM uns_subscription s
			 WHERE s.usr = f.usr AND s.host = f.host AND s.expires > p_now
			   AND NOT s.dead AND s.platform = 2
			   AND NOT EXISTS (SELECT 1 FROM uns_fetched x
			                    WHERE x.id = f.id AND x.unsid = s.unsid)
			ON CONFLICT (ref) DO UPDATE
			   SET flags = 2, seq = excluded.seq, subject = excluded.subject;
			GET DIAGNOSTICS n = ROW_COUNT;
			queued := queued + n;
		END IF;
		DELETE FROM uns_fallback WHERE id = f.id;
		DELETE FROM uns_fetched WHERE id = f.id;
	END LOOP;
END $$;

-- One chunk of reclaim at p_now: expired notifications and subscriptions
-- (their owners locked in order first) and feed tombstones past their
-- time. One row per entry removed: kind 'N', 'S' or 'T', and for an
-- active notification the owner's new head and the taps queued.
CREATE FUNCTION uns_reclaim(p_now bigint, p_ttl bigint, p_chunk integer)
RETURNS TABLE (kind text, r_usr text, r_host text, r_head bigint,
               r_taps integer, r_moved boolean)
LANGUAGE plpgsql AS $$
DECLARE
	n uns_notification;
	s uns_subscription;
	f record;
BEGIN
	PERFORM 1 FROM uns_owner ow
	 WHERE (ow.usr, ow.host) IN (
	       SELECT a.usr, a.host FROM (SELECT x.usr, x.host
	         FROM uns_notification x WHERE x.expires <= p_now
	        ORDER BY x.expires LIMIT p_chunk) a
	       UNION
	       SELECT b.usr, b.host FROM (SELECT y.usr, y.host
	         FROM uns_subscription y WHERE y.expires <= p_now
	        ORDER BY y.expires LIMIT p_chunk) b)
	 ORDER BY ow.usr, ow.host FOR UPDATE;
	FOR n IN SELECT * FROM uns_notification x WHERE x.expires <= p_now
	          ORDER BY x.expires LIMIT p_chunk LOOP
		kind := 'N';
		r_usr := n.usr;
		r_host := n.host;
		r_taps := uns_expire(n, p_now, p_ttl);
		r_moved := n.status = 1;
		SELECT ow.head INTO r_head FROM uns_owner ow
		 WHERE ow.usr = n.usr AND ow.host = n.host;
		RETURN NEXT;
	END LOOP;
	FOR s IN SELECT * FROM uns_subscription y WHERE y.expires <= p_now
	          ORDER BY y.expires LIMIT p_chunk LOOP
		DELETE FROM uns_subscription WHERE unsid = s.unsid;
		DELETE FROM uns_outbox WHERE unsid = s.unsid;
		kind := 'S';
		r_usr := s.usr;
		r_host := s.host;
		r_head := 0;
		r_taps := 0;
		r_moved := false;
		RETURN NEXT;
	END LOOP;
	FOR f IN DELETE FROM uns_feed z WHERE (z.usr, z.host, z.seq) IN (
	           SELECT w.usr, w.host, w.seq FROM uns_feed w
	            WHERE w.drop_at <= p_now ORDER BY w.drop_at LIMIT p_chunk)
	         RETURNING z.usr, z.host LOOP
		kind := 'T';
		r_usr := f.usr;
		r_host := f.host;
		r_head := 0;
		r_taps := 0;
		r_moved := false;
		RETURN NEXT;
	END LOOP;
END $$;
