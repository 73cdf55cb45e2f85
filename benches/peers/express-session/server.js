// Peer of authstore-axum's bench_server example, for benches/peers/session-bench.sh:
// express + express-session + connect-redis, same routes:
//   POST /login  starts a session with user "bench" (sets the cookie), 200
//   GET  /me     the measured route: cookie -> session load -> user id as text, 401 without one
//   GET  /hello  "bench" without the session middleware (the baseline)
//
// Environment: PORT (default 3000), REDIS_URL (default redis://127.0.0.1:6379),
// TOUCH=1 keeps connect-redis's default touch (an EXPIRE on every request that
// does not save); the default TOUCH=0 sets disableTouch so /me does not write.

import { randomBytes } from "node:crypto";

import { RedisStore } from "connect-redis";
import express from "express";
import session from "express-session";
import { createClient } from "redis";

// authstore's default idle timeout: 30 min.
const TTL_SECONDS = 30 * 60;

const port = Number(process.env.PORT || 3000);
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const touch = process.env.TOUCH === "1";

const client = createClient({ url: redisUrl });
client.on("error", (err) => console.error("redis client:", err));
await client.connect();

const app = express();
// Nothing the routes need; off so the peer does no work the Rust server does not.
app.set("etag", false);
app.set("x-powered-by", false);
// Registered before the session middleware, so it never runs for this route.
app.get("/hello", (req, res) => {
  res.type("text/plain").send("bench");
});
app.use(
  session({
    store: new RedisStore({ client, prefix: "sess:", ttl: TTL_SECONDS, disableTouch: !touch }),
    secret: randomBytes(32).toString("hex"),
    name: "sid",
    resave: false,
    saveUninitialized: false,
    rolling: false,
    // Plain HTTP on loopback: the cookie cannot be Secure.
    cookie: { secure: false, httpOnly: true, sameSite: "lax", maxAge: TTL_SECONDS * 1000 },
  }),
);

app.post("/login", (req, res, next) => {
  // Like authstore's set_user: a new id on login (fixation defence).
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = { id: "bench" };
    res.sendStatus(200);
  });
});

app.get("/me", (req, res) => {
  const user = req.session.user;
  if (!user) return res.sendStatus(401);
  res.type("text/plain").send(user.id);
});

app.listen(port, "127.0.0.1", () => {
  console.error(`express-session peer: listening on 127.0.0.1:${port}, touch ${touch ? "on" : "off"}`);
});
