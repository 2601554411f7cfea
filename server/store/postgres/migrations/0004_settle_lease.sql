-- 0004_settle_lease.sql — a settle applies only under the lease its claim
-- took (issue 17; docs/cluster.md "Delivery").
--
-- uns_settle (0001) ended whatever lease the tap had. A node whose lease
-- ran out mid-transfer (a provider slower than delivery_lease, a stall
-- past node_timeout) could, by its late settle, delete or free a tap that
-- another node had claimed since: that node's own settle then found
-- nothing (its retry state lost), or a third claim sent the tap once more.
-- Now a settle names its lease as its claim set it, (owner, until), and
-- when the row carries another lease (another node's, a later claim of
-- the same node, or none after a sweep of dead nodes) it changes nothing,
-- neither the tap nor the subscription's delivery state, and answers
-- lost. until tells apart two claims of one node (its first lease ran
-- out and it claimed the tap again). The row is locked (FOR UPDATE)
-- before it is compared, so no claim takes it between the check and the
-- change. A tap that is gone (settled under a later lease, unsubscribed,
-- dropped with its dead subscription) is not a lost lease: as before, the
-- outcome is noted on the subscription (the endpoint did answer) and the
-- outbox is left alone (DEAD still removes the subscription's taps).
--
-- The outcome itself is 0001's function, unchanged and renamed
-- uns_settle_held (the settle of a tap whose lease is held): the new
-- uns_settle checks the lease, then calls it. The old name and signature
-- are gone: an unsd of the previous version refuses a schema at version
-- 4, and one still running when it is migrated fails its settles, so its
-- taps go out again once its leases end (at-least-once), never settled
-- under a lease it lost.

ALTER FUNCTION uns_settle(text, text, bigint, text, text, bigint, integer,
	bigint, text) RENAME TO uns_settle_held;

CREATE FUNCTION uns_settle(p_usr text, p_host text, p_now bigint,
	p_ref text, p_unsid text, p_seq bigint, p_res integer, p_due bigint,
	p_error text, p_owner text, p_until bigint,
	OUT newer boolean, OUT lost boolean)
LANGUAGE plpgsql AS $$
DECLARE
	t uns_outbox;
BEGIN
	newer := false;
	lost := false;
	PERFORM uns_lock_owner(p_usr, p_host);
	SELECT * INTO t FROM uns_outbox WHERE ref = p_ref FOR UPDATE;
	IF FOUND AND (t.lease_owner IS DISTINCT FROM p_owner
	              OR t.lease_until <> p_until) THEN
		lost := true;
		RETURN;
	END IF;
	newer := uns_settle_held(p_usr, p_host, p_now, p_ref, p_unsid, p_seq,
	                         p_res, p_due, p_error);
END $$;
