// MCP TypeScript SDK bearer-token peer for benches/peers/guard-bench.sh.
//
//   PORT=3000 RESOURCE=http://127.0.0.1:3000 \
//   INTROSPECTION_URL=http://127.0.0.1:8080/introspect \
//   CLIENT_ID=api CLIENT_SECRET=... node server.mjs
//
// - express (version pinned in package.json) with the SDK's own
//   requireBearerAuth middleware (server/auth/middleware/bearerAuth.js),
//   given the resource's RFC 9728 metadata URL, the expected resource (the
//   SDK checks the verifier's `resource` against it) and REQUIRED_SCOPES.
// - The verifier introspects every token (RFC 7662) at INTROSPECTION_URL as
//   the confidential client CLIENT_ID (HTTP Basic), with no cache, as the
//   SDK's example server does (examples/server/simpleStreamableHttp.js).
//   INTROSPECTION_CLIENT chooses the HTTP client: `fetch` (the default, Node's
//   built-in fetch, as that example) or `http` (node:http with a keep-alive
//   agent of MAX_SOCKETS connections, default 64, a cheaper client for
//   comparison). An inactive token is refused (401 invalid_token); an error
//   answer or an unreachable authorization server is a 500 server_error.
// - GET /hello answers "hello" behind the middleware; GET /hello-open is the
//   same handler unguarded (the peer's own baseline).
//
// Listens on 127.0.0.1 only.
import http from 'node:http';

import express from 'express';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`server.mjs: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

const PORT = Number(process.env.PORT || 3000);
const RESOURCE = new URL(required('RESOURCE'));
const INTROSPECTION_URL = required('INTROSPECTION_URL');
const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const REQUIRED_SCOPES = (process.env.REQUIRED_SCOPES || '').split(' ').filter(Boolean);
const INTROSPECTION_CLIENT = process.env.INTROSPECTION_CLIENT || 'fetch';
const MAX_SOCKETS = Number(process.env.MAX_SOCKETS || 64);
if (!['fetch', 'http'].includes(INTROSPECTION_CLIENT)) {
  console.error('server.mjs: INTROSPECTION_CLIENT must be fetch or http');
  process.exit(2);
}

// RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
const BASIC = 'Basic ' + Buffer.from(
  `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`,
).toString('base64');

const HEADERS = {
  Authorization: BASIC,
  'Content-Type': 'application/x-www-form-urlencoded',
  Accept: 'application/json',
};

/** POSTs `body` to the introspection endpoint with fetch; the parsed JSON answer. */
async function introspectWithFetch(body) {
  let response;
  try {
    response = await fetch(INTROSPECTION_URL, { method: 'POST', headers: HEADERS, body });
  } catch (e) {
    throw new ServerError(`introspection failed: ${e.message}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ServerError(`introspection answered ${response.status}`);
  }
  return response.json();
}

const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });

/** The same with node:http and a keep-alive agent. */
function introspectWithHttp(body) {
  return new Promise((resolve, reject) => {
    const request = http.request(INTROSPECTION_URL, {
      method: 'POST',
      agent,
      headers: { ...HEADERS, 'Content-Length': Buffer.byteLength(body) },
    }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', (e) => reject(new ServerError(`introspection failed: ${e.message}`)));
      response.on('end', () => {
        if (response.statusCode !== 200) {
          reject(new ServerError(`introspection answered ${response.statusCode}`));
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(new ServerError(`introspection answer is not JSON: ${e.message}`));
        }
      });
    });
    request.on('error', (e) => reject(new ServerError(`introspection failed: ${e.message}`)));
    request.end(body);
  });
}

const introspect = INTROSPECTION_CLIENT === 'http' ? introspectWithHttp : introspectWithFetch;

/** The SDK's OAuthTokenVerifier: one introspection request per call. */
const verifier = {
  async verifyAccessToken(token) {
    const data = await introspect(
      new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    );
    if (data.active !== true) {
      throw new InvalidTokenError('Token is not active');
    }
    // `aud` is one value, a list, or absent: report the entry naming this resource, if any.
    const audience = [data.aud ?? []].flat()
      .find((aud) => URL.canParse(aud) && new URL(aud).href === RESOURCE.href);
    return {
      token,
      clientId: data.client_id,
      scopes: typeof data.scope === 'string' ? data.scope.split(' ').filter(Boolean) : [],
      expiresAt: data.exp,
      resource: audience ? new URL(audience) : undefined,
    };
  },
};

const guard = requireBearerAuth({
  verifier,
  requiredScopes: REQUIRED_SCOPES,
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(RESOURCE),
  expectedResource: RESOURCE,
});

const hello = (_req, res) => {
  res.type('text/plain').send('hello');
};

const app = express();
app.disable('x-powered-by');
app.get('/hello', guard, hello);
app.get('/hello-open', hello);

app.listen(PORT, '127.0.0.1', (error) => {
  if (error) {
    console.error(`server.mjs: ${error.message}`);
    process.exit(1);
  }
  console.log(`ts-bearer listening on http://127.0.0.1:${PORT} (introspection with ${INTROSPECTION_CLIENT})`);
});
