// The MCP SDK's OAuthClientProvider kept in memory, and a fetch that records every HTTP exchange the SDK makes so that the test can check what went over the wire.

import { randomBytes } from 'node:crypto';

/** The value of `name` in a `WWW-Authenticate: Bearer …` header, or undefined. */
export function challengeParam(header, name) {
  const match = header?.match(new RegExp(`(?:^|[ ,])${name}="([^"]*)"`));
  return match ? match[1] : undefined;
}

/**
 * A fetch that records `{method, url, status, wwwAuthenticate, form, rpc}`
 * for each exchange: `form` is a posted form (token and revocation
 * requests), `rpc` the JSON-RPC method of an MCP POST.
 */
export class Recorder {
  constructor() {
    this.exchanges = [];
    this.fetch = this.fetch.bind(this);
  }

  async fetch(input, init = {}) {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const entry = { method, url, status: undefined };
    if (init.body instanceof URLSearchParams) {
      entry.form = Object.fromEntries(init.body);
    } else if (typeof init.body === 'string') {
      try {
        const message = JSON.parse(init.body);
        entry.rpc = Array.isArray(message) ? message.map((m) => m.method).join(',') : message.method;
        entry.tool = message?.params?.name;
      } catch {
        // Not JSON: nothing to note.
      }
    }
    this.exchanges.push(entry);
    const response = await fetch(input, init);
    entry.status = response.status;
    entry.wwwAuthenticate = response.headers.get('www-authenticate') ?? undefined;
    return response;
  }

  /** A position in the record, for {@link since}. */
  mark() {
    return this.exchanges.length;
  }

  /** The exchanges after `mark`. */
  since(mark) {
    return this.exchanges.slice(mark);
  }

  /** The exchanges after `mark`, one per line, for failure messages. */
  describe(mark = 0) {
    return this.since(mark)
      .map((e) => {
        const what = e.rpc ? ` (${e.rpc}${e.tool ? ` ${e.tool}` : ''})` : e.form?.grant_type ? ` (${e.form.grant_type})` : '';
        const challenge = e.wwwAuthenticate ? ` [${e.wwwAuthenticate}]` : '';
        return `    ${e.method} ${e.url.origin}${e.url.pathname}${what} → ${e.status}${challenge}`;
      })
      .join('\n');
  }
}

/**
 * An `OAuthClientProvider` (a public client with a loopback redirect URI)
 * that keeps everything in memory. `redirectToAuthorization` records the
 * URL, as an application that opens the user's browser would; the test then
 * drives the authorization server's pages with `Browser` and calls `finishAuth`.
 *
 * `clientMetadataUrl` is the URL of the client's metadata document: the
 * SDK then uses it as the client id, with no registration, when the
 * authorization server supports Client ID Metadata Documents.
 */
export class InMemoryOAuthProvider {
  constructor(redirectUrl, { clientMetadataUrl } = {}) {
    this._redirectUrl = redirectUrl;
    this._clientInformation = undefined;
    if (clientMetadataUrl !== undefined) {
      this.clientMetadataUrl = clientMetadataUrl;
    }
    this._tokens = undefined;
    this._codeVerifier = undefined;
    /** Every authorization URL the SDK built, in order. */
    this.authorizationUrls = [];
    /** Every client information the SDK saved (each dynamic registration, or the URL client id of its CIMD branch). */
    this.registrations = [];
  }

  get redirectUrl() {
    return this._redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: 'authstore MCP interop client',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    return randomBytes(32).toString('base64url');
  }

  clientInformation() {
    return this._clientInformation;
  }

  saveClientInformation(information) {
    this._clientInformation = information;
    this.registrations.push(information);
  }

  tokens() {
    return this._tokens;
  }

  saveTokens(tokens) {
    this._tokens = tokens;
  }

  redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(new URL(authorizationUrl));
  }

  /** The last authorization URL the SDK built. */
  get lastAuthorizationUrl() {
    return this.authorizationUrls.at(-1);
  }

  saveCodeVerifier(codeVerifier) {
    this._codeVerifier = codeVerifier;
  }

  codeVerifier() {
    if (!this._codeVerifier) {
      throw new Error('no PKCE code verifier saved');
    }
    return this._codeVerifier;
  }

  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') {
      this._clientInformation = undefined;
    }
    if (scope === 'all' || scope === 'tokens') {
      this._tokens = undefined;
    }
    if (scope === 'all' || scope === 'verifier') {
      this._codeVerifier = undefined;
    }
  }
}
