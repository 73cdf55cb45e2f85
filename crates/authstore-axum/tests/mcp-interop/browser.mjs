// A user agent for authstore serve's HTML pages: fetch with a cookie jar, following redirects by hand, signing in and approving the consent page as a person would, until the authorization server redirects to the client.

/** Decodes the HTML character references minijinja's escaping produces. */
function decodeEntities(text) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return named[ref.toLowerCase()] ?? whole;
  });
}

/** The attributes of one start tag, `<input type="hidden" name="a" value="b">` → `{type, name, value}`. */
function attributes(tag) {
  const out = {};
  for (const [, name, value] of tag.matchAll(/([a-zA-Z_:-]+)="([^"]*)"/g)) {
    out[name.toLowerCase()] = decodeEntities(value);
  }
  return out;
}

/**
 * The form with `id` in `html`: its action and the fields a browser would
 * post without user input (hidden inputs, such as the CSRF token and the
 * carried authorization request). Undefined when the page has no such form.
 */
/** The value of the environment variable `name`; exits with status 2, naming `who`, when it is unset. */
export function requiredEnv(who, name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${who}: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

export function parseForm(html, id) {
  const start = html.search(new RegExp(`<form\\b[^>]*\\bid="${id}"`));
  if (start < 0) {
    return undefined;
  }
  const end = html.indexOf('</form>', start);
  const form = html.slice(start, end < 0 ? undefined : end);
  const action = attributes(form.slice(0, form.indexOf('>') + 1)).action ?? '';
  const fields = {};
  for (const [tag] of form.matchAll(/<input\b[^>]*>/g)) {
    const input = attributes(tag);
    if (input.type === 'hidden' && input.name) {
      fields[input.name] = input.value ?? '';
    }
  }
  return { action, fields };
}

/** The visible error of an authstore page (`id="error"`), or the start of its text. */
function pageMessage(html) {
  const error = html.match(/id="error"[^>]*>([^<]*)</);
  if (error) {
    return decodeEntities(error[1]).trim();
  }
  return html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** A cookie-keeping user agent, signed in as one user. */
export class Browser {
  constructor({ username, password }) {
    this.username = username;
    this.password = password;
    this.cookies = new Map();
    /** Every page request, as `METHOD path → status`, for failure messages. */
    this.trail = [];
  }

  /** One request, no redirect followed; keeps the cookies the answer sets. */
  async request(url, { method = 'GET', form } = {}) {
    const target = new URL(url);
    // What a browser sends for a navigation or a form post on the same site.
    const headers = { 'sec-fetch-site': 'same-origin', accept: 'text/html' };
    if (this.cookies.size > 0) {
      headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    }
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = target.origin;
    }
    const res = await fetch(target, { method, headers, body, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const pair = cookie.split(';', 1)[0];
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*max-age=0\b/i.test(cookie) || value === '') {
        this.cookies.delete(name);
      } else {
        this.cookies.set(name, value);
      }
    }
    this.trail.push(`${method} ${target.pathname} → ${res.status}`);
    const location = res.headers.get('location');
    return {
      url: target,
      status: res.status,
      location: location ? new URL(location, target) : undefined,
      html: await res.text(),
    };
  }

  /**
   * Opens `authorizationUrl`, signs in on the login form if it is shown,
   * approves the consent page, and returns the redirect to `redirectUri`
   * (a URL carrying `code`, `state` and `iss`, or an `error`). Throws when
   * the authorization server shows anything else.
   */
  async authorize(authorizationUrl, redirectUri) {
    this.trail = [];
    let page = await this.request(authorizationUrl);
    let signedIn = false;
    let approved = false;
    for (let hops = 0; hops < 10; hops += 1) {
      if (page.location && page.status >= 300 && page.status < 400) {
        if (page.location.href.startsWith(redirectUri)) {
          return page.location;
        }
        page = await this.request(page.location);
        continue;
      }
      if (page.status !== 200) {
        throw new Error(`the authorization server answered ${page.status} at ${page.url.pathname}: ${pageMessage(page.html)}`);
      }
      const login = parseForm(page.html, 'login');
      if (login) {
        if (signedIn) {
          throw new Error(`sign-in refused: ${pageMessage(page.html)}`);
        }
        signedIn = true;
        const form = { ...login.fields, username: this.username, password: this.password };
        page = await this.request(new URL(login.action, page.url), { method: 'POST', form });
        continue;
      }
      const consent = parseForm(page.html, 'consent');
      if (consent) {
        if (approved) {
          throw new Error(`the consent page came back after approval: ${pageMessage(page.html)}`);
        }
        approved = true;
        const form = { ...consent.fields, decision: 'approve' };
        page = await this.request(new URL(consent.action, page.url), { method: 'POST', form });
        continue;
      }
      throw new Error(`an unexpected page at ${page.url.pathname}: ${pageMessage(page.html)}`);
    }
    throw new Error(`no redirect to the client after ${this.trail.join(', ')}`);
  }
}
