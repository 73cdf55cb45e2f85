// The official MCP TypeScript SDK client identified by a Client ID Metadata Document (its client_id is the URL of a JSON document it publishes) instead of registering, although the authorization server offers dynamic registration too: the SDK's own CIMD branch runs, the authorization server fetches the document over https, and the flow ends with a tool call. The test serves the document itself on loopback. Run by scripts/mcp-interop (mode cimd).
//
// Environment: MCP_INTEROP_MCP_URL (the MCP endpoint, also the resource),
// MCP_INTEROP_AS_URL (the issuer), MCP_INTEROP_USERNAME, MCP_INTEROP_PASSWORD,
// MCP_INTEROP_SUBJECT (the user's id), MCP_INTEROP_DOC_PORT (a free loopback
// port for the metadata documents), MCP_INTEROP_DOC_CERT and
// MCP_INTEROP_DOC_KEY (PEM files: a certificate for 127.0.0.1 and its key,
// issued by a throwaway CA the authorization server trusts through
// `[client_metadata_documents] ca_file`).
//
// The SDK (1.32.2, `auth()` in dist/esm/client/auth.js) uses
// `provider.clientMetadataUrl` as the client id only when the authorization
// server advertises `client_id_metadata_document_supported` and the URL is
// https with a path (`isHttpsUrl`); an http URL is refused before any request.
// Otherwise it registers at `registration_endpoint`. The authorization
// server runs with registration open and `allow_loopback = true`
// (development: loopback document URLs, here https://127.0.0.1:PORT/…),
// trusting the test's CA. So:
//   1. the server advertises both documents and its registration endpoint;
//   2. an http clientMetadataUrl: the SDK refuses it (its documented check);
//   3. an https clientMetadataUrl and no client information: the SDK takes
//      its CIMD branch (the URL is the authorization request's client_id,
//      no registration), the authorization server fetches and checks the
//      document over TLS, the user signs in and consents;
//   4. the SDK exchanges the code as that client and calls a tool, which
//      reports the URL as the client id. No request goes to /register: the
//      SDK sent none, and the server's /metrics counted none;
//   5. documents the authorization server must refuse: a client_id that is
//      not the document's URL, a redirect URI the document does not list,
//      and a document that is not there;
//   6. the control: the same SDK given no clientMetadataUrl registers at the
//      open endpoint (201, one registration counted by the server), so the
//      SDK of step 3 had registration to choose and chose the document.
// scripts/mcp-interop then checks the server's access log: its only
// POST /register is step 6's, after the document client's code exchange.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { Browser, requiredEnv } from './browser.mjs';
import { InMemoryOAuthProvider, Recorder } from './provider.mjs';

const env = (name) => requiredEnv('mcp-interop cimd', name);

const mcpUrl = env('MCP_INTEROP_MCP_URL');
const asUrl = env('MCP_INTEROP_AS_URL');
const username = env('MCP_INTEROP_USERNAME');
const password = env('MCP_INTEROP_PASSWORD');
const subject = env('MCP_INTEROP_SUBJECT');
const docPort = Number(env('MCP_INTEROP_DOC_PORT'));
const tls = { cert: readFileSync(env('MCP_INTEROP_DOC_CERT')), key: readFileSync(env('MCP_INTEROP_DOC_KEY')) };
const redirectUrl = 'http://127.0.0.1:49152/callback';
const docOrigin = `https://127.0.0.1:${docPort}`;
const docUrl = `${docOrigin}/client.json`;
const httpDocUrl = `http://127.0.0.1:${docPort}/client.json`;
const mismatchUrl = `${docOrigin}/oauth/mismatch.json`;

/** The client's metadata document (draft-ietf-oauth-client-id-metadata-document): public, PKCE, one loopback redirect URI. */
function documentFor(url) {
  return {
    client_id: url,
    client_name: 'authstore MCP interop client (metadata document)',
    client_uri: docOrigin,
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

/** Every request the document server answered: `{path, userAgent}`. */
const documentFetches = [];
const documents = new Map([
  [new URL(docUrl).pathname, documentFor(docUrl)],
  // Claims another client id than its own URL: must be refused.
  [new URL(mismatchUrl).pathname, documentFor(`${docOrigin}/oauth/someone-else.json`)],
]);
const docServer = createServer(tls, (req, res) => {
  documentFetches.push({ path: req.url, userAgent: req.headers['user-agent'] });
  const doc = documents.get(req.url);
  if (req.method !== 'GET' || !doc) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
  res.end(JSON.stringify(doc));
});
await new Promise((resolve) => docServer.listen(docPort, '127.0.0.1', resolve));

const recorder = new Recorder();
const browser = new Browser({ username, password });

class StepFailure extends Error {}

function expect(condition, message) {
  if (!condition) {
    throw new StepFailure(typeof message === 'function' ? message() : message);
  }
}

async function step(number, name, run) {
  const mark = recorder.mark();
  try {
    const detail = await run();
    console.log(`[cimd] ${number} ${name} ok${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    console.error(`[cimd] ${number} ${name} FAILED: ${error?.stack && !(error instanceof StepFailure) ? error.stack : error?.message ?? error}`);
    const exchanges = recorder.describe(mark);
    if (exchanges) {
      console.error(`  HTTP exchanges of this step:\n${exchanges}`);
    }
    console.error(`  metadata document requests so far: ${JSON.stringify(documentFetches)}`);
    docServer.close();
    process.exit(1);
  }
}

const newClient = () => new Client({ name: 'authstore-mcp-interop-cimd', version: '1.0.0' });
const newTransport = (provider) => new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: recorder.fetch });
const registrations = () => recorder.exchanges.filter((e) => e.url.pathname.endsWith('/register'));

/** The registration requests the authorization server answered, by status, from its `/metrics` (`authstore_http_requests_total`, route `/register`). */
async function serverRegistrations() {
  const res = await fetch(`${asUrl}/metrics`);
  expect(res.status === 200, () => `GET /metrics answered ${res.status}`);
  const text = await res.text();
  const counts = {};
  for (const line of text.split('\n')) {
    const match = line.match(/^authstore_http_requests_total\{(.*)\} (\d+)$/);
    if (match && /(?:^|,)route="\/register"(?:,|$)/.test(match[1])) {
      const status = match[1].match(/(?:^|,)status="(\d+)"/)?.[1] ?? '?';
      counts[status] = (counts[status] ?? 0) + Number(match[2]);
    }
  }
  expect(/^authstore_http_requests_total\{/m.test(text), 'no authstore_http_requests_total series in /metrics');
  return counts;
}
const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

await step(1, 'the authorization server advertises client ID metadata documents', async () => {
  const res = await recorder.fetch(`${asUrl}/.well-known/oauth-authorization-server`);
  const meta = await res.json();
  expect(meta.client_id_metadata_document_supported === true, () => `client_id_metadata_document_supported is ${meta.client_id_metadata_document_supported}`);
  expect(meta.registration_endpoint === `${asUrl}/register`, () => `registration_endpoint is ${meta.registration_endpoint}; the cimd run keeps registration open so that the SDK has it to choose`);
  const counted = total(await serverRegistrations());
  expect(counted === 0, () => `the server counted ${counted} registration request(s) before the run`);
  return `client_id_metadata_document_supported: true; registration_endpoint: ${meta.registration_endpoint}`;
});

await step(2, 'the SDK refuses an http clientMetadataUrl itself', async () => {
  const provider = new InMemoryOAuthProvider(redirectUrl, { clientMetadataUrl: httpDocUrl });
  const mark = recorder.mark();
  const error = await newClient().connect(newTransport(provider)).then(() => undefined, (e) => e);
  expect(error && /clientMetadataUrl must be a valid HTTPS URL/.test(error.message), () => `connecting with clientMetadataUrl ${httpDocUrl} gave ${error ?? 'a connection'}`);
  expect(provider.authorizationUrls.length === 0, 'the SDK built an authorization URL anyway');
  expect(!recorder.since(mark).some((e) => e.url.pathname.endsWith('/authorize') || e.url.pathname.endsWith('/token')), 'the SDK went on to /authorize or /token');
  return `"${error.message}"`;
});

let provider;
let code;
let transport;
let flowMark;

await step(3, "the SDK's own CIMD branch with an https clientMetadataUrl: authorization", async () => {
  provider = new InMemoryOAuthProvider(redirectUrl, { clientMetadataUrl: docUrl });
  expect(provider.clientInformation() === undefined, 'the provider holds client information before the flow');
  flowMark = recorder.mark();
  transport = newTransport(provider);
  const error = await newClient().connect(transport).then(() => undefined, (e) => e);
  expect(error instanceof UnauthorizedError, () => `connecting should stop for authorization (UnauthorizedError), got ${error?.stack ?? error ?? 'a connection'}`);
  expect(registrations().length === 0, 'the SDK sent a registration request');
  expect(provider.registrations.length === 1 && provider.clientInformation()?.client_id === docUrl, () => `the SDK saved client information ${JSON.stringify(provider.registrations)}`);
  const url = provider.lastAuthorizationUrl;
  expect(url?.searchParams.get('client_id') === docUrl, () => `the authorization URL's client_id is ${url?.searchParams.get('client_id')}`);
  expect(url.searchParams.get('code_challenge_method') === 'S256', 'no PKCE');
  expect(url.searchParams.get('resource') === mcpUrl, () => `resource=${url.searchParams.get('resource')}`);
  const before = documentFetches.length;
  const redirect = await browser.authorize(url.href, redirectUrl);
  expect(!redirect.searchParams.has('error'), () => `the authorization server refused: ${redirect.searchParams.get('error')} ${redirect.searchParams.get('error_description') ?? ''}`);
  expect(redirect.searchParams.get('state') === url.searchParams.get('state'), 'another state came back');
  expect(redirect.searchParams.get('iss') === asUrl, () => `iss ${redirect.searchParams.get('iss')}`);
  code = redirect.searchParams.get('code');
  expect(code, 'no code');
  const fetched = documentFetches.slice(before).filter((f) => f.path === new URL(docUrl).pathname);
  expect(fetched.length > 0, 'the authorization server did not fetch the metadata document');
  return `client_id=${docUrl} (saved by the SDK itself, no /register); ${browser.trail.join(', ')}; the server fetched the document over TLS ${fetched.length} time(s) (User-Agent ${fetched[0].userAgent ?? 'none'})`;
});

await step(4, "the SDK's own CIMD branch: code exchange and a tool call", async () => {
  await transport.finishAuth(code);
  const exchange = recorder.since(flowMark).find((e) => e.form?.grant_type === 'authorization_code');
  expect(exchange?.status === 200, () => `the token request got ${exchange?.status}`);
  expect(exchange.form.client_id === docUrl, () => `the token request's client_id is ${exchange.form.client_id}`);
  const client = newClient();
  await client.connect(newTransport(provider));
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  expect(!result.isError, () => `whoami returned an error: ${JSON.stringify(result.content)}`);
  const me = JSON.parse(result.content.find((c) => c.type === 'text').text);
  expect(me.subject === subject, () => `whoami says subject ${me.subject}`);
  expect(me.client_id === docUrl, () => `whoami says client_id ${me.client_id}, not the document URL`);
  await client.close();
  expect(registrations().length === 0, () => `requests to /register were made:\n${recorder.describe()}`);
  const counted = await serverRegistrations();
  expect(total(counted) === 0, () => `the authorization server answered registration requests: ${JSON.stringify(counted)}`);
  console.log(`[cimd] the SDK's requests in the flow (the browser's excluded):\n${recorder.describe(flowMark)}`);
  return `whoami: sub=${me.subject} client_id=${me.client_id}; registration was open, and no request went to /register (the SDK sent none, the server's /metrics counts none)`;
});

await step(5, 'documents the server must refuse', async () => {
  const base = { response_type: 'code', redirect_uri: redirectUrl, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'cimd-negative', scope: 'mcp:tools' };
  const probe = async (params) => {
    const res = await fetch(`${asUrl}/authorize?${new URLSearchParams({ ...base, ...params })}`, { redirect: 'manual', headers: { 'sec-fetch-site': 'none', accept: 'text/html' } });
    await res.text();
    return { status: res.status, location: res.headers.get('location') };
  };
  const mismatch = await probe({ client_id: mismatchUrl });
  expect(mismatch.status >= 400 && !mismatch.location, () => `a document whose client_id is another URL: ${mismatch.status} ${mismatch.location ?? ''}`);
  const otherRedirect = await probe({ client_id: docUrl, redirect_uri: 'http://127.0.0.1:49152/elsewhere' });
  expect(otherRedirect.status >= 400 && !otherRedirect.location, () => `a redirect URI the document does not list: ${otherRedirect.status} ${otherRedirect.location ?? ''}`);
  const missing = await probe({ client_id: `${docOrigin}/oauth/absent.json` });
  const httpDocument = await probe({ client_id: httpDocUrl });
  expect(httpDocument.status >= 400 && !httpDocument.location, () => `the http URL of the https document server: ${httpDocument.status} ${httpDocument.location ?? ''}`);
  expect(missing.status >= 400 && !missing.location, () => `a document that is not there (404): ${missing.status} ${missing.location ?? ''}`);
  return `client_id mismatch → ${mismatch.status}, unlisted redirect URI → ${otherRedirect.status}, missing document → ${missing.status}, the http URL of an https server → ${httpDocument.status}, none redirected`;
});

await step(6, 'the control: without a clientMetadataUrl the same SDK registers at the open endpoint', async () => {
  const plain = new InMemoryOAuthProvider(redirectUrl);
  const mark = recorder.mark();
  const error = await newClient().connect(newTransport(plain)).then(() => undefined, (e) => e);
  expect(error instanceof UnauthorizedError, () => `connecting should stop for authorization (UnauthorizedError), got ${error?.stack ?? error ?? 'a connection'}`);
  const sent = recorder.since(mark).filter((e) => e.url.pathname.endsWith('/register'));
  expect(sent.length === 1 && sent[0].method === 'POST' && sent[0].status === 201, () => `the SDK's registration requests: ${JSON.stringify(sent.map((e) => [e.method, e.status]))}`);
  const registered = plain.clientInformation()?.client_id;
  expect(registered && registered !== docUrl && !registered.includes('://'), () => `the SDK saved client_id ${registered}`);
  expect(plain.lastAuthorizationUrl?.searchParams.get('client_id') === registered, 'the authorization URL does not carry the registered client_id');
  const counted = await serverRegistrations();
  expect(counted['201'] === 1 && total(counted) === 1, () => `the server counted registrations ${JSON.stringify(counted)}, not one 201`);
  return `POST /register → 201, client_id ${registered} (not a URL); the server counts exactly this one registration`;
});

docServer.close();
console.log('[cimd] all steps passed');
