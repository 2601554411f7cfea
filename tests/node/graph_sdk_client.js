// graph_sdk_client.js — the Microsoft Graph JavaScript SDK, unmodified,
// against the UNS gateway: an app gets a token from /oauth2/v2.0/token,
// a user subscribes a device, the app creates a notification through the
// SDK, the user lists, reads, patches and fetches the delta through the
// SDK, and the SDK sees Graph-shaped errors. Run by test_gateway_graph_sdk
// (which starts unsd); exits non-zero with the failing step on stderr.
//
// Environment: UNS_GW_URL (https://localhost:PORT), UNS_USER_TOKEN,
// UNS_APP_ID, UNS_APP_SECRET, UNS_HOST (targetHostName);
// NODE_EXTRA_CA_CERTS names the dev CA.
"use strict";
require("isomorphic-fetch");
const { Client } = require("@microsoft/microsoft-graph-client");
const assert = require("node:assert/strict");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env("UNS_GW_URL");
const host = env("UNS_HOST");

function client(token) {
  return Client.init({
    baseUrl: base,
    customHosts: new Set([new URL(base).hostname]),
    defaultVersion: "beta",
    authProvider: (done) => done(null, token),
  });
}

async function appToken(secret) {
  const body = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: env("UNS_APP_ID"),
    client_secret: secret,
    scope: "https://graph.microsoft.com/.default",
  });
  const r = await fetch(`${base}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body,
  });
  return { status: r.status, json: await r.json() };
}

async function step(name, fn) {
  try {
    const out = await fn();
    console.log(`ok ${name}`);
    return out;
  } catch (e) {
    console.error(`FAILED ${name}: ${e.stack || e}`);
    if (e.body) console.error(`body: ${e.body}`);
    process.exit(1);
  }
}

(async () => {
  const bad = await step("token endpoint refuses a wrong secret", async () => {
    const r = await appToken("wrong");
    assert.equal(r.status, 401);
    assert.equal(r.json.error, "invalid_client");
  });
  void bad;
  const tok = await step("token endpoint issues an app token", async () => {
    const r = await appToken(env("UNS_APP_SECRET"));
    assert.equal(r.status, 200);
    assert.equal(r.json.token_type, "Bearer");
    assert.ok(r.json.expires_in > 0);
    return r.json.access_token;
  });
  const user = client(env("UNS_USER_TOKEN"));
  const app = client(tok);

  const sub = await step("user subscribes a device", async () => {
    const s = await user.api("/me/notifications/subscriptions").post({
      targetHostName: host,
      deviceId: "sdk-laptop",
      platform: "polling",
    });
    assert.ok(s.id);
    return s;
  });

  const created = await step("app creates a notification", async () => {
    const n = await app
      .api("/me/notifications")
      .header("X-UNS-ID", sub.id)
      .post({
        targetHostName: host,
        appNotificationId: "sdk-order-1",
        payload: { visualContent: { title: "Hello from the Graph SDK" } },
        priority: "High",
      });
    assert.ok(n.id);
    assert.equal(n.payload.visualContent.title, "Hello from the Graph SDK");
    assert.equal(n.readState, "unread");
    return n;
  });

  await step("user lists notifications", async () => {
    const page = await user.api("/me/notifications").top(10).get();
    assert.ok(Array.isArray(page.value));
    assert.ok(page.value.some((n) => n.id === created.id));
  });

  await step("user patches readState", async () => {
    await user
      .api(`/me/notifications/${created.id}`)
      .patch({ readState: "read" });
    const n = await user.api(`/me/notifications/${created.id}`).get();
    assert.equal(n.readState, "read");
  });

  await step("user reads the delta", async () => {
    const d = await user.api("/me/notifications/delta").get();
    assert.ok(d.value.some((n) => n.id === created.id));
    assert.ok(d["@odata.deltaLink"]);
  });

  await step("the v1.0 paths answer too", async () => {
    const n = await user
      .api(`/me/notifications/${created.id}`)
      .version("v1.0")
      .get();
    assert.equal(n.id, created.id);
  });

  await step("a missing notification is a GraphError 404", async () => {
    await assert.rejects(
      user.api("/me/notifications/no-such-id").get(),
      (e) => e.statusCode === 404 && typeof e.code === "string"
    );
  });

  await step("a bad token is a GraphError 401", async () => {
    await assert.rejects(
      client("not-a-token").api("/me/notifications").get(),
      (e) => e.statusCode === 401
    );
  });
  console.log("all ok");
})();
