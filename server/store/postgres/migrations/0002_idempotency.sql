-- 0002_idempotency.sql — idempotency keys (store.h, uns_store_idem;
-- docs/store.md): a keyed post is remembered under (owner, key) for its
-- window, in the post's own transaction, with the answer it got.
--
-- A record is a row per (owner, key, expiry), not per (owner, key): a post
-- under the same key after the window adds a new row, and reclaim deletes
-- exactly the rows past their expiry, as RocksDB's expiry entries do. The
-- key is bytea (the store's keys are opaque bytes). The answer is kept as
-- uns_post gave it (id, created, version, modified, expiry, the posted
-- body), so a replay answers the notification as it was then.

CREATE TABLE uns_idem (
	usr text COLLATE "C" NOT NULL,
	host text COLLATE "C" NOT NULL,
	key bytea NOT NULL,
	expires bigint NOT NULL,           -- the record's, not the post's
	fingerprint bytea NOT NULL,
	was_new boolean NOT NULL,
	id text COLLATE "C" NOT NULL,
	created bigint NOT NULL,
	version bigint NOT NULL,
	modified bigint NOT NULL,
	n_expires bigint NOT NULL,
	body bytea NOT NULL,
	PRIMARY KEY (usr, host, key, expires)
);
CREATE INDEX uns_idem_expires ON uns_idem (expires);

-- A Post with an idempotency key, under the owner's lock: a live record of
-- the key with the same fingerprint answers its first answer (replay, and
-- nothing written); another fingerprint is 6 (ALREADY_EXISTS); otherwise
-- uns_post, and when it succeeds the record in the same transaction.
CREATE FUNCTION uns_post_keyed(p_usr text, p_host text, p_now bigint,
	p_new_id text, p_app_id text, p_group text, p_body bytea,
	p_targets smallint[], p_fallback_ms bigint, p_expires bigint,
	p_max_live integer, p_ttl bigint, p_key bytea, p_fp bytea,
	p_window bigint,
	OUT rc integer, OUT id text, OUT created bigint, OUT version bigint,
	OUT head bigint, OUT taps integer, OUT was_new boolean,
	OUT replay boolean, OUT body bytea, OUT modified bigint,
	OUT expires bigint)
LANGUAGE plpgsql AS $$
DECLARE
	r uns_idem;
	p record;
BEGIN
	PERFORM uns_lock_owner(p_usr, p_host);
	SELECT * INTO r FROM uns_idem i
	 WHERE i.usr = p_usr AND i.host = p_host AND i.key = p_key
	   AND i.expires > p_now
	 ORDER BY i.expires DESC LIMIT 1;
	IF FOUND THEN
		replay := true;
		taps := 0;
		head := 0;
		IF r.fingerprint <> p_fp THEN
			rc := 6;
			RETURN;
		END IF;
		rc := 0;
		id := r.id;
		created := r.created;
		version := r.version;
		was_new := r.was_new;
		body := r.body;
		modified := r.modified;
		expires := r.n_expires;
		RETURN;
	END IF;
	replay := false;
	SELECT * INTO p FROM uns_post(p_usr, p_host, p_now, p_new_id, p_app_id,
		p_group, p_body, p_targets, p_fallback_ms, p_expires, p_max_live,
		p_ttl) x;
	rc := p.rc;
	id := p.id;
	created := p.created;
	version := p.version;
	head := p.head;
	taps := p.taps;
	was_new := p.was_new;
	modified := p_now;
	expires := p_expires;
	IF rc = 0 THEN
		INSERT INTO uns_idem VALUES (p_usr, p_host, p_key,
			p_now + p_window, p_fp, p.was_new, p.id, p.created,
			p.version, p_now, p_expires, p_body);
	END IF;
END $$;

-- Deletes up to p_chunk idempotency records past their expiry, oldest
-- first (a newer record of the same key is another row and stays).
-- Returns how many.
CREATE FUNCTION uns_reclaim_idem(p_now bigint, p_chunk integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	n integer;
BEGIN
	DELETE FROM uns_idem z WHERE (z.usr, z.host, z.key, z.expires) IN (
	       SELECT w.usr, w.host, w.key, w.expires FROM uns_idem w
	        WHERE w.expires <= p_now ORDER BY w.expires LIMIT p_chunk);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
