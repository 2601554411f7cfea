-- Several unsd nodes on one schema (issue 17): the nodes, and the jobs
-- that run on one node at a time.

-- Each unsd sharing the schema, by its node id (the outbox's lease owner):
-- registered at open, its beat renewed every node_heartbeat, removed at a
-- clean close. Times in ms of UNS's clock, never now(). A node whose beat
-- is older than node_timeout is dead: the node holding the reclaim job
-- removes its row and ends its outbox leases, so live nodes deliver its
-- taps at once instead of after delivery_lease.
CREATE TABLE uns_node (
	id text COLLATE "C" PRIMARY KEY,
	started bigint NOT NULL,
	beat bigint NOT NULL
);

-- Jobs that run on one node at a time cluster-wide (reclaim with the
-- sweep of dead nodes, the iOS fallback checks): a lease (owner, until)
-- like the outbox's, taken by an UPDATE that succeeds only for the holder
-- or once the lease has ended; the holder renews it each round.
CREATE TABLE uns_job (
	name text COLLATE "C" PRIMARY KEY,
	owner text,
	until bigint NOT NULL DEFAULT 0
);
INSERT INTO uns_job (name) VALUES ('reclaim'), ('fallback');
