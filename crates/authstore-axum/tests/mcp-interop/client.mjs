// The official MCP TypeScript SDK client against authstore-axum's mcp_server example and authstore serve: discovery, registration, sign-in and consent, a tool call, step-up to a wider scope, a token for another resource, and revocation then refresh. Run by scripts/mcp-interop, one process per validation mode.
//
// Environment: MCP_INTEROP_MODE (same-store | introspection | jwt),
// MCP_INTEROP_MCP_URL (the MCP endpoint, also the resource identifier),
// MCP_INTEROP_AS_URL (the authorization server's issuer), MCP_INTEROP_USERNAME,
// MCP_INTEROP_PASSWORD and MCP_INTEROP_SUBJECT (the user's id, the tokens' `sub`).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  UnauthorizedError,
  auth,
  discoverAuthorizationServerMetadata,
  exchangeAuthorization,
  startAuthorization,
} from '@modelcontextprotocol/sdk/client/auth.js';

import { Browser, requiredEnv } from './browser.mjs';
import { InMemoryOAuthProvider, Recorder, challengeParam } from './provider.mjs';

const env = (name) => requiredEnv('mcp-interop client', name);

const mode = env('MCP_INTEROP_MODE');
const mcpUrl = env('MCP_INTEROP_MCP_URL');
const asUrl = env('MCP_INTEROP_AS_URL');
const username = env('MCP_INTEROP_USERNAME');
const password = env('MCP_INTEROP_PASSWORD');
const subject = env('MCP_INTEROP_SUBJECT');
// A loopback redirect URI (RFC 8252): nothing listens there, the test reads
// the authorization server's redirect instead of following it.
const redirectUrl = 'http://127.0.0.1:49152/callback';
const mcpOrigin = new URL(mcpUrl).origin;
const metadataUrl = `${mcpOrigin}/.well-known/oauth-protected-resource${new URL(mcpUrl).pathname}`;
const otherResource = `${mcpOrigin}/other`;

const recorder = new Recorder();
const provider = new InMemoryOAuthProvider(redirectUrl);
const browser = new Browser({ username, password });

class StepFailure extends Error {}

/** Fails the current step with `message` unless `condition` holds. */
function expect(condition, message) {
  if (!condition) {
    throw new StepFailure(typeof message === 'function' ? message() : message);
  }
}

/** Runs one numbered step; prints `[mode] n name ok: detail`, or why it failed and exits 1. */
async function step(number, name, run) {
  const mark = recorder.mark();
  try {
    const detail = await run();
    console.log(`[${mode}] ${number} ${name} ok${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    console.error(`[${mode}] ${number} ${name} FAILED: ${error?.stack && !(error instanceof StepFailure) ? error.stack : error?.message ?? error}`);
    const exchanges = recorder.describe(mark);
    if (exchanges) {
      console.error(`  HTTP exchanges of this step:\n${exchanges}`);
    }
    process.exit(1);
  }
}

function newClient() {
  return new Client({ name: 'authstore-mcp-interop', version: '1.0.0' });
}

function newTransport(options = { authProvider: provider }) {
  return new StreamableHTTPClientTransport(new URL(mcpUrl), { ...options, fetch: recorder.fetch });
}

const isMcp = (e) => e.url.href === new URL(mcpUrl).href && e.method === 'POST';

/** Drives the sign-in and consent pages for `authorizationUrl`; returns the code, after checking state and iss. */
async function signInAndConsent(authorizationUrl) {
  const redirect = await browser.authorize(authorizationUrl.href, redirectUrl);
  expect(!redirect.searchParams.has('error'), () => `the authorization server refused: ${redirect.searchParams.get('error')} ${redirect.searchParams.get('error_description') ?? ''}`);
  expect(redirect.searchParams.get('state') === authorizationUrl.searchParams.get('state'), 'the redirect carries another state');
  expect(redirect.searchParams.get('iss') === asUrl, () => `the redirect's iss is ${redirect.searchParams.get('iss')}, not ${asUrl} (RFC 9207)`);
  const code = redirect.searchParams.get('code');
  expect(code, 'the redirect carries no code');
  return code;
}

/** Calls `name` and returns its text content parsed as JSON. */
async function callTool(client, name) {
  const result = await client.callTool({ name, arguments: {} });
  expect(!result.isError, () => `${name} returned an error: ${JSON.stringify(result.content)}`);
  const text = result.content?.find((c) => c.type === 'text')?.text;
  expect(text, () => `${name} returned no text: ${JSON.stringify(result)}`);
  return JSON.parse(text);
}

let code;
let firstTransport;
let client;
let asMetadata;

await step(1, 'connect', async () => {
  firstTransport = newTransport();
  const error = await newClient().connect(firstTransport).then(() => undefined, (e) => e);
  expect(error instanceof UnauthorizedError, () => `connecting without a token should stop for authorization (UnauthorizedError), got ${error ?? 'a connection'}`);
  const challenged = recorder.exchanges.find(isMcp);
  expect(challenged?.status === 401, () => `the first MCP request got ${challenged?.status}, not 401`);
  const resourceMetadata = challengeParam(challenged.wwwAuthenticate, 'resource_metadata');
  expect(resourceMetadata === metadataUrl, () => `WWW-Authenticate names resource_metadata ${resourceMetadata}, not ${metadataUrl}`);
  const fetched = (pathname, origin) => recorder.exchanges.find((e) => e.url.origin === origin && e.url.pathname === pathname);
  expect(fetched(new URL(metadataUrl).pathname, mcpOrigin)?.status === 200, 'the SDK did not read the protected resource metadata');
  expect(fetched('/.well-known/oauth-authorization-server', asUrl)?.status === 200, "the SDK did not read the authorization server's metadata");
  expect(fetched('/register', asUrl)?.status === 201, 'the SDK did not register a client (RFC 7591)');
  const registered = provider.clientInformation();
  expect(registered?.client_id, 'no client information saved after registration');
  const url = provider.lastAuthorizationUrl;
  expect(url, 'the SDK built no authorization URL');
  expect(`${url.origin}${url.pathname}` === `${asUrl}/authorize`, () => `the authorization URL is ${url.origin}${url.pathname}`);
  const param = (name) => url.searchParams.get(name);
  expect(param('code_challenge_method') === 'S256', () => `code_challenge_method=${param('code_challenge_method')}`);
  expect(/^[A-Za-z0-9_-]{43}$/.test(param('code_challenge') ?? ''), 'no S256 code_challenge');
  expect(param('resource') === mcpUrl, () => `resource=${param('resource')}, not ${mcpUrl}`);
  expect(param('client_id') === registered.client_id, 'the authorization URL names another client');
  expect(param('state'), 'no state');
  return `401 with resource_metadata=${resourceMetadata}; discovered ${asUrl}; registered client ${registered.client_id}; authorization URL has code_challenge_method=S256, resource=${param('resource')}, scope=${param('scope')}`;
});

await step(2, 'sign-in and consent', async () => {
  code = await signInAndConsent(provider.lastAuthorizationUrl);
  return `${browser.trail.join(', ')}; redirected with code, state and iss`;
});

await step(3, 'code exchange', async () => {
  const mark = recorder.mark();
  await firstTransport.finishAuth(code);
  const exchange = recorder.since(mark).find((e) => e.form?.grant_type === 'authorization_code');
  expect(exchange?.status === 200, () => `the token request got ${exchange?.status}`);
  expect(exchange.form.code_verifier, 'the token request has no code_verifier');
  expect(exchange.form.resource === mcpUrl, () => `the token request's resource is ${exchange.form.resource}`);
  const tokens = provider.tokens();
  expect(tokens?.access_token, 'no access token saved');
  expect(tokens.refresh_token, 'no refresh token saved');
  return `access token (scope "${tokens.scope}", expires in ${tokens.expires_in} s) and refresh token`;
});

await step(4, 'whoami', async () => {
  client = newClient();
  await client.connect(newTransport());
  const me = await callTool(client, 'whoami');
  expect(me.subject === subject, () => `whoami says subject ${me.subject}, not ${subject}`);
  expect(me.client_id === provider.clientInformation().client_id, () => `whoami says client ${me.client_id}`);
  expect(me.scopes?.includes('mcp:tools'), () => `whoami says scopes ${me.scopes}`);
  expect(!me.scopes.includes('mcp:admin'), 'the first token already has mcp:admin: nothing to step up');
  return `sub=${me.subject} client_id=${me.client_id} scopes=${me.scopes.join(' ')}`;
});

await step(5, 'step-up', async () => {
  const mark = recorder.mark();
  let report;
  const error = await callTool(client, 'admin_report').then((r) => void (report = r), (e) => e);
  const refused = recorder.since(mark).find((e) => isMcp(e) && e.tool === 'admin_report');
  expect(refused?.status === 403, () => `admin_report with scope mcp:tools got HTTP ${refused?.status}, not 403`);
  expect(challengeParam(refused.wwwAuthenticate, 'error') === 'insufficient_scope', () => `the 403 challenge is ${refused.wwwAuthenticate}`);
  const scope = challengeParam(refused.wwwAuthenticate, 'scope');
  expect(scope?.split(' ').includes('mcp:admin') && scope.split(' ').includes('mcp:tools'), () => `the 403 challenge's scope is "${scope}"`);
  let how = 'stepped up by the SDK';
  if (error) {
    // SDK 1.32.2 answers a 403 insufficient_scope by calling auth() with the
    // challenge's scope, but auth() refreshes the token when it holds a
    // refresh token, and a refresh cannot widen the scope; the retry gets the
    // same 403 and the SDK stops ("Server returned 403 after trying upscoping").
    // So the step-up is made here with the SDK's own auth(), given the
    // challenge's scope. Its client must first be forgotten: dynamic
    // registration recorded only the scope of the first challenge
    // (mcp:tools), and authstore lets a registered client ask for no scope it
    // did not register, so auth() registers again with the wider scope.
    expect(/403/.test(String(error?.message)), () => `admin_report failed with ${error}, not with the 403`);
    const sdkTry = recorder.since(mark);
    provider.invalidateCredentials('all');
    const options = { serverUrl: new URL(mcpUrl), scope, resourceMetadataUrl: new URL(metadataUrl), fetchFn: recorder.fetch };
    expect((await auth(provider, options)) === 'REDIRECT', 'auth() did not ask for an authorization');
    const url = provider.lastAuthorizationUrl;
    expect(url.searchParams.get('scope')?.split(' ').includes('mcp:admin'), () => `the step-up authorization URL asks for scope ${url.searchParams.get('scope')}`);
    expect(url.searchParams.get('resource') === mcpUrl, 'the step-up authorization URL has another resource');
    const stepUpCode = await signInAndConsent(url);
    expect((await auth(provider, { ...options, authorizationCode: stepUpCode })) === 'AUTHORIZED', 'the step-up code exchange failed');
    report = await callTool(client, 'admin_report');
    const refusals = sdkTry.filter((e) => isMcp(e) && e.status === 403).length;
    const refreshed = sdkTry.some((e) => e.form?.grant_type === 'refresh_token');
    how = `the SDK's upscoping ${refreshed ? 'refreshed the token' : 'ran'}, got ${refusals} × 403 and stopped ("${error.message}"); stepped up with the SDK's auth(scope="${scope}") as client ${provider.clientInformation().client_id}`;
  }
  expect(report?.requested_by === subject, () => `admin_report answered ${JSON.stringify(report)}`);
  const me = await callTool(client, 'whoami');
  expect(me.scopes.includes('mcp:admin'), () => `after step-up whoami says scopes ${me.scopes}`);
  return `HTTP 403 insufficient_scope, scope="${scope}"; ${how}; admin_report ok with scopes ${me.scopes.join(' ')}`;
});

await step(6, 'token for another resource', async () => {
  asMetadata = await discoverAuthorizationServerMetadata(asUrl, { fetchFn: recorder.fetch });
  const clientInformation = provider.clientInformation();
  const { authorizationUrl, codeVerifier } = await startAuthorization(asUrl, {
    metadata: asMetadata,
    clientInformation,
    redirectUrl,
    scope: 'mcp:tools',
    state: provider.state(),
    resource: new URL(otherResource),
  });
  expect(authorizationUrl.searchParams.get('resource') === otherResource, 'the authorization URL names another resource');
  const otherCode = await signInAndConsent(authorizationUrl);
  const other = await exchangeAuthorization(asUrl, {
    metadata: asMetadata,
    clientInformation,
    authorizationCode: otherCode,
    codeVerifier,
    redirectUri: redirectUrl,
    resource: new URL(otherResource),
    fetchFn: recorder.fetch,
  });
  // No auth provider: the SDK presents this token and reports the answer.
  const mark = recorder.mark();
  const headers = { Authorization: `Bearer ${other.access_token}` };
  const error = await newClient().connect(newTransport({ requestInit: { headers } })).then(() => undefined, (e) => e);
  expect(error, 'the MCP server accepted a token issued for another resource');
  const refused = recorder.since(mark).find(isMcp);
  expect(refused?.status === 401, () => `the token for ${otherResource} got HTTP ${refused?.status}, not 401`);
  const errorCode = challengeParam(refused.wwwAuthenticate, 'error');
  expect(errorCode === 'invalid_token', () => `the challenge is ${refused.wwwAuthenticate}`);
  const description = challengeParam(refused.wwwAuthenticate, 'error_description');
  return `token with resource=${otherResource} refused: 401 error="${errorCode}" (${description})`;
});

await step(7, 'revocation and refresh', async () => {
  const revoked = provider.tokens().access_token;
  const form = { token: revoked, token_type_hint: 'access_token', client_id: provider.clientInformation().client_id };
  const answer = await recorder.fetch(asMetadata.revocation_endpoint, { method: 'POST', body: new URLSearchParams(form) });
  expect(answer.status === 200, () => `/revoke answered ${answer.status}`);
  let note = '';
  if (mode === 'jwt') {
    // A JWT is checked against the authorization server's keys, without
    // asking it: a revoked JWT stays valid until it expires (by design; keep
    // access tokens short-lived, or validate by introspection).
    const mark = recorder.mark();
    await callTool(client, 'whoami');
    expect(!recorder.since(mark).some((e) => e.status === 401), 'the revoked JWT was refused');
    expect(provider.tokens().access_token === revoked, 'the token changed without a refusal');
    console.log(`[${mode}]   revoked JWT still accepted until it expires (by design: validated locally against the JWK set); presenting a tampered token instead`);
    const [header, payload, signature] = revoked.split('.');
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    provider.saveTokens({ ...provider.tokens(), access_token: `${header}.${payload}.${flipped}` });
    note = 'tampered JWT';
  } else {
    note = 'revoked token';
  }
  const presented = provider.tokens().access_token;
  const mark = recorder.mark();
  const me = await callTool(client, 'whoami');
  const seen = recorder.since(mark);
  const refusedAt = seen.findIndex((e) => isMcp(e) && e.status === 401);
  expect(refusedAt >= 0, () => `the ${note} was not refused`);
  const challenge = seen[refusedAt].wwwAuthenticate;
  expect(challengeParam(challenge, 'error') === 'invalid_token', () => `the 401 challenge is ${challenge}`);
  const refresh = seen.slice(refusedAt).find((e) => e.form?.grant_type === 'refresh_token');
  expect(refresh?.status === 200, () => `the SDK's refresh got ${refresh?.status}`);
  expect(provider.tokens().access_token !== presented, 'the access token did not change');
  expect(me.subject === subject, () => `whoami after refresh says ${me.subject}`);
  const description = challengeParam(challenge, 'error_description');
  return `${note} → 401 invalid_token (${description}) → SDK refreshed → whoami ok: sub=${me.subject}`;
});

await client.close();
console.log(`[${mode}] all steps passed`);
