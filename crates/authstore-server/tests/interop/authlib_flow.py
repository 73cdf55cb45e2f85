#!/usr/bin/env python3
"""authstore's OAuth server driven by an independent client: Python's authlib.

Usage: authlib_flow.py BASE_URL --introspector ID:SECRET [--username U] [--password P] [--subject S]

Against a running server (tests/interop_authlib.rs starts one in-process), it
performs, asserting every step:

* discovery (RFC 8414) and dynamic registration (RFC 7591) of a confidential
  client with a plain POST bearing an initial access token (RFC 7591 §3);
  without it, a confidential registration is refused;
* authorization code + PKCE (S256): authlib builds the request; the sign-in
  and consent forms are submitted as a browser submits them (cookie jar,
  hidden inputs parsed with html.parser, Origin and Sec-Fetch-Site headers);
  the redirect carries code, state and iss (RFC 9207); CSRF, denial, code reuse
  and a wrong secret are refused;
* the code exchange, refresh (rotation), introspection (RFC 7662) and
  revocation (RFC 7009) through authlib's OAuth2Session, and revocation of an
  access token alone with plain requests and client_secret_basic;
  introspection is by a trusted introspector the server was given
  (--introspector), and a token's own client learns nothing from it;
* client credentials through authlib, with client_secret_basic and
  client_secret_post;
* OpenID Connect through authlib's OpenID client (the OAuth2Mixin and
  OpenIDMixin that its Flask and Django integrations are made of, without a
  web framework): discovery through /.well-known/openid-configuration, a
  sign-in with scope `openid profile`, a nonce and PKCE, the ID token
  validated by `parse_id_token` against the server's JWK set (signature, iss,
  aud, exp, iat, nonce, at_hash), a wrong nonce refused, userinfo, and the
  refresh of the OpenID grant.

Exits 0 when everything held; otherwise prints the failed step and exits 1.
"""

import argparse
import base64
import json
import sys
import traceback
from html.parser import HTMLParser
from http.cookiejar import DefaultCookiePolicy
from ipaddress import ip_address
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar, get_cookie_header
from authlib.common.security import generate_token
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OAuthError, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session

TIMEOUT = 15
REDIRECT_URI = "http://127.0.0.1:9/callback"
COOKIE = "__Host-authstore"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def describe(res):
    return f"{res.request.method} {res.request.url} -> {res.status_code}: {res.text[:500]}"


# --- a browser, as far as forms and cookies go -------------------------------


class Forms(HTMLParser):
    """Every <form> of a page: id, method, action, and its fields (inputs and submit buttons)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {
                "id": a.get("id"),
                "method": a.get("method", "get").lower(),
                "action": a.get("action", ""),
                "inputs": [],
                "buttons": [],
            }
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and "name" in a:
            self._form["inputs"].append(
                {"name": a["name"], "type": a.get("type", "text").lower(),
                 "value": a.get("value", ""), "checked": "checked" in a}
            )
        elif self._form is not None and tag == "button" and "name" in a:
            self._form["buttons"].append({"name": a["name"], "value": a.get("value", "")})

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def form_on(page, form_id):
    parser = Forms()
    parser.feed(page.text)
    for form in parser.forms:
        if form["id"] == form_id:
            return form
    raise Failure(f"no form #{form_id} on the page: {describe(page)}")


class LoopbackIsSecure(DefaultCookiePolicy):
    """Browsers treat http://localhost and loopback addresses as secure
    contexts and send their Secure cookies; http.cookiejar does not, so the
    test server's loopback address is given the same treatment here."""

    def return_ok_secure(self, cookie, request):
        host = urlsplit(request.get_full_url()).hostname or ""
        try:
            loopback = host == "localhost" or ip_address(host).is_loopback
        except ValueError:
            loopback = False
        return loopback or super().return_ok_secure(cookie, request)


class Browser:
    """A cookie jar that keeps the session cookie as a browser does, and the requests that carry it."""

    def __init__(self, base):
        self.base = base
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "authstore-interop/authlib (browser forms)"
        # requests.Session merges its jar into a fresh, default-policy jar for
        # every request, which drops a loopback Secure cookie; this jar, with
        # its own policy, writes the Cookie header itself.
        self.jar = RequestsCookieJar(policy=LoopbackIsSecure())
        self.set_cookies = []

    def _send(self, method, url, **kwargs):
        headers = kwargs.pop("headers")
        cookie = get_cookie_header(self.jar, requests.Request(method, url).prepare())
        if cookie:
            headers["Cookie"] = cookie
        res = self.http.request(method, url, headers=headers, allow_redirects=False, timeout=TIMEOUT, **kwargs)
        self.http.cookies.clear()
        extract_cookies_to_jar(self.jar, res.request, res.raw)
        self.set_cookies.extend(res.raw.headers.getlist("Set-Cookie"))
        return res

    def get(self, url):
        return self._send("GET", url, headers={"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"})

    def submit(self, page, form_id, fill=None, button=None, drop=(), site="same-origin"):
        """Submits #form_id of `page` as a browser would: its hidden and
        checked fields, `fill` for the visible ones, the clicked `button`'s
        name=value; `drop` leaves fields out (to test refusals)."""
        form = form_on(page, form_id)
        check(form["method"] == "post", f"form #{form_id} posts: {form}")
        fields = []
        for field in form["inputs"]:
            if field["name"] in drop:
                continue
            if field["type"] == "hidden":
                fields.append((field["name"], field["value"]))
            elif field["type"] == "checkbox":
                if fill and field["name"] in fill:
                    fields.append((field["name"], fill[field["name"]]))
                elif field["checked"]:
                    fields.append((field["name"], field["value"] or "on"))
            elif fill and field["name"] in fill:
                fields.append((field["name"], fill[field["name"]]))
        if button is not None:
            match = [b for b in form["buttons"] if b["name"] == button[0] and b["value"] == button[1]]
            check(match, f"form #{form_id} has the button {button}: {form['buttons']}")
            fields.append(button)
        url = urljoin(page.url, form["action"] or page.url)
        return self._send("POST", url, data=fields, headers={
            "Origin": self.base, "Sec-Fetch-Site": site, "Sec-Fetch-Mode": "navigate",
        })

    def authorize(self, url, decision="approve", remember=False):
        """Follows an authorization URL through sign-in (if needed) and consent; returns the final redirect."""
        page = self.get(url)
        if page.status_code == 200 and 'id="login"' in page.text:
            page = self.sign_in(page)
        if page.status_code == 303:
            return page.headers["Location"]
        check(page.status_code == 200 and 'id="consent"' in page.text,
              f"the consent page: {describe(page)}")
        fill = {"remember": "on"} if remember else None
        res = self.submit(page, "consent", fill=fill, button=("decision", decision))
        check(res.status_code == 303, f"the consent form redirects: {describe(res)}")
        return res.headers["Location"]

    def sign_in(self, page):
        res = self.submit(page, "login", fill={"username": ARGS.username, "password": ARGS.password})
        check(res.status_code == 303, f"signed in: {describe(res)}")
        location = res.headers["Location"]
        check(location.startswith("/authorize?"), f"back to /authorize: {location}")
        return self.get(urljoin(self.base, location))


def redirect_params(location):
    check(location.startswith(REDIRECT_URI + "?"), f"redirected to the client: {location}")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# --- the flow -----------------------------------------------------------------

STEPS = []


def step(name):
    def register(fn):
        STEPS.append((name, fn))
        return fn
    return register


class Ctx:
    pass


ctx = Ctx()


@step("discovery (RFC 8414)")
def discovery():
    res = requests.get(f"{ARGS.base}/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    check(res.status_code == 200, describe(res))
    meta = res.json()
    check(meta["issuer"] == ARGS.base, f"issuer {meta['issuer']!r} is the base URL {ARGS.base!r}")
    for endpoint in ("authorization", "token", "revocation", "introspection", "registration"):
        check(meta.get(f"{endpoint}_endpoint", "").startswith(ARGS.base + "/"), f"{endpoint}_endpoint in {meta}")
    check("S256" in meta["code_challenge_methods_supported"], "S256 is supported")
    check(meta.get("authorization_response_iss_parameter_supported") is True, "RFC 9207 is advertised")
    ctx.meta = meta


def initial_access_token():
    """The header that lets /register create confidential clients."""
    return {"Authorization": f"Bearer {ARGS.initial_access_token}"} if ARGS.initial_access_token else {}


@step("dynamic registration (RFC 7591) of a confidential client")
def registration():
    open_attempt = requests.post(ctx.meta["registration_endpoint"], timeout=TIMEOUT, json={
        "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic",
    })
    check(open_attempt.status_code == 400 and open_attempt.json().get("error") == "invalid_client_metadata",
          f"open registration creates no confidential client: {describe(open_attempt)}")
    res = requests.post(ctx.meta["registration_endpoint"], timeout=TIMEOUT, headers=initial_access_token(), json={
        "client_name": "authlib interop",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "read write",
    })
    check(res.status_code == 201, describe(res))
    check(res.headers.get("Cache-Control") == "no-store", f"no-store: {res.headers}")
    reg = res.json()
    check(reg.get("client_id") and reg.get("client_secret"), f"an id and a secret: {reg}")
    check(reg["redirect_uris"] == [REDIRECT_URI], f"redirect_uris echoed: {reg}")
    check(reg["token_endpoint_auth_method"] == "client_secret_basic", f"auth method echoed: {reg}")
    check(set(reg["grant_types"]) == {"authorization_code", "refresh_token", "client_credentials"}, f"grant types: {reg}")
    check(reg.get("client_secret_expires_at", 0) > 0, f"the secret expires: {reg}")
    ctx.client_id, ctx.client_secret = reg["client_id"], reg["client_secret"]

    bad = requests.post(ctx.meta["registration_endpoint"], timeout=TIMEOUT,
                        json={"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "private_key_jwt"})
    check(bad.status_code == 400 and bad.json().get("error") == "invalid_client_metadata",
          f"unsupported metadata is refused: {describe(bad)}")


def oauth(scope="read", **kwargs):
    return OAuth2Session(
        client_id=ctx.client_id, client_secret=ctx.client_secret,
        token_endpoint_auth_method=kwargs.pop("auth", "client_secret_basic"),
        scope=scope, redirect_uri=REDIRECT_URI, code_challenge_method="S256",
        default_timeout=TIMEOUT, **kwargs,
    )


def new_authorization():
    session = oauth()
    verifier = generate_token(64)
    url, state = session.create_authorization_url(ctx.meta["authorization_endpoint"], code_verifier=verifier)
    query = parse_qs(urlsplit(url).query)
    check(query["code_challenge_method"] == ["S256"] and query.get("code_challenge"), f"authlib sent PKCE: {url}")
    return session, verifier, url, state


@step("the sign-in form refuses a missing CSRF token, a cross-site post and a wrong password")
def sign_in_refusals():
    browser = Browser(ARGS.base)
    _, _, url, _ = new_authorization()
    page = browser.get(url)
    check(page.status_code == 200 and 'id="login"' in page.text, f"the sign-in page: {describe(page)}")
    check("default-src 'none'" in page.headers.get("Content-Security-Policy", ""), "pages allow no scripts")
    fill = {"username": ARGS.username, "password": ARGS.password}
    res = browser.submit(page, "login", fill=fill, drop=("_csrf",))
    check(res.status_code == 403, f"no _csrf: refused: {describe(res)}")
    res = browser.submit(page, "login", fill=fill, site="cross-site")
    check(res.status_code == 403, f"a cross-site post: refused: {describe(res)}")
    res = browser.submit(page, "login", fill={"username": ARGS.username, "password": "wrong " + ARGS.password})
    check(res.status_code == 401 and "Wrong username or password" in res.text, f"a wrong password: {describe(res)}")


@step("authorization code + PKCE through the sign-in and consent forms")
def authorization_code():
    ctx.browser = Browser(ARGS.base)
    session, verifier, url, state = new_authorization()
    location = ctx.browser.authorize(url)
    params = redirect_params(location)
    check(params.get("state") == state, f"state comes back: {params}")
    check(params.get("iss") == ARGS.base, f"RFC 9207 iss is the issuer: {params}")
    check("code" in params and "error" not in params, f"a code: {params}")

    cookies = [c for c in ctx.browser.set_cookies if c.startswith(COOKIE + "=")]
    check(cookies, f"the session cookie was set: {ctx.browser.set_cookies}")
    for raw in cookies:
        attrs = {a.strip().split("=")[0].lower(): a.strip() for a in raw.split(";")[1:]}
        check("httponly" in attrs and "secure" in attrs, f"HttpOnly, Secure: {raw}")
        check(attrs.get("samesite", "").lower() == "samesite=lax", f"SameSite=Lax: {raw}")
        check(attrs.get("path") == "Path=/" and "domain" not in attrs, f"Path=/, no Domain: {raw}")

    token = session.fetch_token(ctx.meta["token_endpoint"], authorization_response=location,
                                state=state, code_verifier=verifier)
    check(token.get("token_type", "").lower() == "bearer", f"a bearer token: {token}")
    check(token.get("access_token") and token.get("refresh_token"), f"access and refresh tokens: {token}")
    check(token.get("scope") == "read", f"scope read: {token}")
    check(token.get("expires_in", 0) > 0 and token.get("expires_at"), f"an expiry authlib understood: {token}")
    ctx.session, ctx.token = session, dict(token)


    res = requests.post(ctx.meta["token_endpoint"], data={"grant_type": "client_credentials"},
                        auth=(ctx.client_id, "not-the-secret"), timeout=TIMEOUT)
    check(res.status_code == 401 and res.json().get("error") == "invalid_client", f"a wrong secret: {describe(res)}")
    check(res.headers.get("WWW-Authenticate", "").startswith("Basic"), f"a Basic challenge: {res.headers}")


def introspector():
    """An authlib session of the trusted introspector (only clients the operator
    names may introspect; the registered clients may not)."""
    client_id, secret = ARGS.introspector.split(":", 1)
    return OAuth2Session(client_id=client_id, client_secret=secret,
                         token_endpoint_auth_method="client_secret_basic", default_timeout=TIMEOUT)


def introspect(session, token, hint=None):
    """Introspects `token` as the trusted introspector; `session` (the token's
    own client) must learn nothing."""
    own = session.introspect_token(ctx.meta["introspection_endpoint"], token=token, token_type_hint=hint)
    check(own.status_code == 200 and own.json() == {"active": False},
          f"the token's own client is no introspector: {describe(own)}")
    res = introspector().introspect_token(ctx.meta["introspection_endpoint"], token=token, token_type_hint=hint)
    check(res.status_code == 200, describe(res))
    return res.json()


@step("introspection (RFC 7662) through authlib")
def introspection():
    info = introspect(ctx.session, ctx.token["access_token"], "access_token")
    check(info.get("active") is True, f"active: {info}")
    check(info.get("client_id") == ctx.client_id, f"client_id: {info}")
    check(info.get("scope") == "read", f"scope: {info}")
    check(info.get("iss") == ARGS.base, f"iss: {info}")
    check(info.get("exp", 0) > info.get("iat", 0) > 0, f"exp and iat: {info}")
    if ARGS.subject:
        check(info.get("sub") == ARGS.subject, f"sub is {ARGS.subject!r}: {info}")
    else:
        check(info.get("sub"), f"a sub: {info}")
    check(introspect(ctx.session, "x" * 43) == {"active": False}, "an unknown token is inactive")


@step("refresh through authlib rotates the refresh token")
def refresh():
    old = ctx.token
    new = dict(ctx.session.refresh_token(ctx.meta["token_endpoint"], refresh_token=old["refresh_token"]))
    check(new.get("access_token") and new["access_token"] != old["access_token"], f"a new access token: {new}")
    check(new.get("refresh_token") and new["refresh_token"] != old["refresh_token"], f"a rotated refresh token: {new}")
    check(new.get("scope") == "read", f"scope: {new}")
    check(introspect(ctx.session, old["refresh_token"]).get("active") is False, "the old refresh token is inactive")
    check(introspect(ctx.session, new["access_token"]).get("active") is True, "the new access token is active")
    ctx.old, ctx.token = old, new


@step("revocation (RFC 7009) of the refresh token through authlib revokes the grant")
def revocation():
    res = ctx.session.revoke_token(ctx.meta["revocation_endpoint"], token=ctx.token["refresh_token"],
                                   token_type_hint="refresh_token")
    check(res.status_code == 200, describe(res))
    for name, token in [("new access", ctx.token["access_token"]), ("new refresh", ctx.token["refresh_token"]),
                        ("first access", ctx.old["access_token"])]:
        check(introspect(ctx.session, token).get("active") is False, f"the {name} token is inactive")
    try:
        ctx.session.refresh_token(ctx.meta["token_endpoint"], refresh_token=ctx.token["refresh_token"])
        raise Failure("a revoked refresh token refreshed")
    except OAuthError as e:
        check(e.error == "invalid_grant", f"refresh after revocation: invalid_grant, got {e.error}")
    res = ctx.session.revoke_token(ctx.meta["revocation_endpoint"], token="y" * 43)
    check(res.status_code == 200, f"an unknown token revokes with 200: {describe(res)}")


@step("a remembered consent; revoking an access token alone with plain requests (client_secret_basic)")
def remembered_consent_and_access_revocation():
    session, verifier, url, state = new_authorization()
    location = ctx.browser.authorize(url, remember=True)
    token = session.fetch_token(ctx.meta["token_endpoint"], authorization_response=location,
                                state=state, code_verifier=verifier)
    # The consent is remembered: the next request skips the page.
    session2, verifier2, url2, state2 = new_authorization()
    page = ctx.browser.get(url2)
    check(page.status_code == 303, f"no consent page the second time: {describe(page)}")
    params = redirect_params(page.headers["Location"])
    check(params.get("state") == state2 and params.get("code"), f"a code at once: {params}")

    res = requests.post(ctx.meta["revocation_endpoint"], timeout=TIMEOUT,
                        auth=(ctx.client_id, ctx.client_secret),
                        data={"token": token["access_token"], "token_type_hint": "access_token"})
    check(res.status_code == 200, describe(res))
    res = requests.post(ctx.meta["introspection_endpoint"], timeout=TIMEOUT,
                        auth=tuple(ARGS.introspector.split(":", 1)), data={"token": token["access_token"]})
    check(res.status_code == 200 and res.json() == {"active": False}, f"the access token is inactive: {describe(res)}")
    check(introspect(session, token["refresh_token"]).get("active") is True,
          "revoking an access token leaves its refresh token")
    refreshed = session.refresh_token(ctx.meta["token_endpoint"], refresh_token=token["refresh_token"])
    check(refreshed.get("access_token"), f"the grant still refreshes: {refreshed}")


@step("a code redeems once; its reuse revokes the grant")
def code_reuse():
    # The consent is remembered since the step before: the code comes at once.
    session, verifier, url, state = new_authorization()
    location = ctx.browser.authorize(url)
    token = session.fetch_token(ctx.meta["token_endpoint"], authorization_response=location,
                                state=state, code_verifier=verifier)
    check(introspect(session, token["access_token"]).get("active") is True, "the first redemption's token is active")
    try:
        oauth().fetch_token(ctx.meta["token_endpoint"], authorization_response=location,
                            state=state, code_verifier=verifier)
        raise Failure("a code redeemed twice")
    except OAuthError as e:
        check(e.error == "invalid_grant", f"code reuse: invalid_grant, got {e.error}")
    for name in ("access_token", "refresh_token"):
        check(introspect(session, token[name]).get("active") is False, f"the reuse revoked the grant's {name}")


@step("denying consent sends access_denied back with state and iss")
def denial():
    # A second client, so no remembered consent applies.
    res = requests.post(ctx.meta["registration_endpoint"], timeout=TIMEOUT, headers=initial_access_token(), json={
        "client_name": "authlib interop (denied)", "redirect_uris": [REDIRECT_URI], "scope": "read",
        "token_endpoint_auth_method": "client_secret_basic",
    })
    check(res.status_code == 201, describe(res))
    reg = res.json()
    session = OAuth2Session(client_id=reg["client_id"], client_secret=reg["client_secret"], scope="read",
                            redirect_uri=REDIRECT_URI, code_challenge_method="S256", default_timeout=TIMEOUT)
    url, state = session.create_authorization_url(ctx.meta["authorization_endpoint"], code_verifier=generate_token(64))
    params = redirect_params(ctx.browser.authorize(url, decision="deny"))
    check(params.get("error") == "access_denied" and "code" not in params, f"access_denied: {params}")
    check(params.get("state") == state and params.get("iss") == ARGS.base, f"state and iss: {params}")


@step("client credentials through authlib (client_secret_basic)")
def client_credentials():
    session = oauth(scope="write")
    token = session.fetch_token(ctx.meta["token_endpoint"], grant_type="client_credentials")
    check(token.get("access_token") and token.get("scope") == "write", f"a token for write: {token}")
    info = introspect(session, token["access_token"])
    check(info.get("active") is True and info.get("client_id") == ctx.client_id, f"active: {info}")
    check("sub" not in info, f"a client's own token has no user: {info}")
    try:
        oauth(scope="admin").fetch_token(ctx.meta["token_endpoint"], grant_type="client_credentials")
        raise Failure("a scope beyond the registration was granted")
    except OAuthError as e:
        check(e.error == "invalid_scope", f"scope admin: invalid_scope, got {e.error}")


@step("client credentials through authlib (client_secret_post)")
def client_credentials_post():
    res = requests.post(ctx.meta["registration_endpoint"], timeout=TIMEOUT, headers=initial_access_token(), json={
        "client_name": "authlib interop (post)", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post", "scope": "read",
    })
    check(res.status_code == 201, describe(res))
    reg = res.json()
    check(reg["token_endpoint_auth_method"] == "client_secret_post", f"{reg}")
    session = OAuth2Session(client_id=reg["client_id"], client_secret=reg["client_secret"], scope="read",
                            token_endpoint_auth_method="client_secret_post", default_timeout=TIMEOUT)
    token = session.fetch_token(ctx.meta["token_endpoint"], grant_type="client_credentials")
    check(token.get("access_token") and token.get("scope") == "read", f"a token: {token}")
    info = introspect(session, token["access_token"])
    check(info.get("active") is True and info.get("client_id") == reg["client_id"], f"active: {info}")


# --- OpenID Connect ----------------------------------------------------------


class OpenIDClient(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's OpenID Connect client as its Flask and Django integrations
    compose it (OAuth2Mixin + OpenIDMixin over OAuth2Session), minus the web
    framework: the caller keeps the state, nonce and code verifier that
    `create_authorization_url` returns, as those integrations keep them in
    the user's session."""

    client_cls = OAuth2Session

    def __init__(self, **kwargs):
        super().__init__(framework=None, **kwargs)


@step("OpenID discovery (/.well-known/openid-configuration)")
def openid_discovery():
    res = requests.get(f"{ARGS.base}/.well-known/openid-configuration", timeout=TIMEOUT)
    check(res.status_code == 200, describe(res))
    meta = res.json()
    check(meta.get("issuer") == ARGS.base, f"issuer {meta.get('issuer')!r} is {ARGS.base!r}")
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        check(meta.get(key, "").startswith(ARGS.base + "/"), f"{key} in {meta}")
        if key in ctx.meta:
            check(meta[key] == ctx.meta[key], f"{key} is the RFC 8414 document's: {meta[key]} vs {ctx.meta[key]}")
    check("code" in meta.get("response_types_supported", []), f"response_types_supported: {meta}")
    check(meta.get("subject_types_supported"), f"subject_types_supported: {meta}")
    check("RS256" in meta.get("id_token_signing_alg_values_supported", []), f"RS256 ID tokens: {meta}")
    check("openid" in meta.get("scopes_supported", []), f"openid in scopes_supported: {meta}")
    ctx.oidc_meta = meta


@step("OpenID sign-in through authlib's OpenID client: ID token validated by parse_id_token (nonce, at_hash, JWKS)")
def openid_sign_in():
    res = requests.post(ctx.meta["registration_endpoint"], timeout=TIMEOUT, headers=initial_access_token(), json={
        "client_name": "authlib interop (OpenID)", "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "openid profile",
    })
    check(res.status_code == 201, describe(res))
    reg = res.json()
    client = OpenIDClient(
        client_id=reg["client_id"], client_secret=reg["client_secret"],
        server_metadata_url=f"{ARGS.base}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256", "default_timeout": TIMEOUT,
                       "token_endpoint_auth_method": "client_secret_basic"},
    )
    rv = client.create_authorization_url(REDIRECT_URI, max_age=600)
    query = parse_qs(urlsplit(rv["url"]).query)
    check(rv.get("nonce") and query.get("nonce") == [rv["nonce"]], f"authlib sent a nonce: {rv['url']}")
    check(query.get("code_challenge_method") == ["S256"], f"authlib sent PKCE: {rv['url']}")
    location = ctx.browser.authorize(rv["url"])
    params = redirect_params(location)
    check(params.get("iss") == ARGS.base and params.get("state") == rv["state"], f"iss and state: {params}")
    token = client.fetch_access_token(redirect_uri=REDIRECT_URI, authorization_response=location,
                                      state=rv["state"], code_verifier=rv["code_verifier"])
    check(token.get("id_token"), f"an ID token: {token}")
    check(set(token.get("scope", "").split()) == {"openid", "profile"}, f"scope: {token}")
    header = jws_header(token["id_token"])
    check(header.get("alg") == "RS256" and header.get("kid"), f"an RS256 ID token with a kid: {header}")
    user = client.parse_id_token(token, nonce=rv["nonce"])
    check(user is not None, "parse_id_token returned nothing")
    check(user["sub"] == (ARGS.subject or user["sub"]), f"sub is {ARGS.subject!r}: {dict(user)}")
    audience = user["aud"] if isinstance(user["aud"], list) else [user["aud"]]
    check(reg["client_id"] in audience, f"aud is the client: {dict(user)}")
    check(user.get("at_hash"), f"an at_hash (checked by parse_id_token against the access token): {dict(user)}")
    check(isinstance(user.get("auth_time"), int) and user["auth_time"] <= user["iat"], f"auth_time (max_age was sent): {dict(user)}")
    try:
        client.parse_id_token(token, nonce=generate_token(20))
        raise Failure("parse_id_token accepted an ID token for another nonce")
    except Failure:
        raise
    except Exception as e:  # noqa: BLE001 - joserfc's InvalidClaimError
        check("nonce" in str(e), f"a wrong nonce is refused as a nonce mismatch: {type(e).__name__}: {e}")
    ctx.oidc_client, ctx.oidc_token, ctx.oidc_user, ctx.oidc_reg = client, dict(token), user, reg
    ctx.oidc_nonce = rv["nonce"]


def jws_part(compact, index):
    part = compact.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def jws_header(compact):
    """The JOSE header of a compact JWS (not verified: parse_id_token verifies)."""
    return jws_part(compact, 0)


def jws_claims(compact):
    """The payload of a compact JWS (not verified: parse_id_token verifies)."""
    return jws_part(compact, 1)


@step("userinfo through authlib's OpenID client; refresh of the OpenID grant")
def openid_userinfo():
    client, token = ctx.oidc_client, ctx.oidc_token
    info = client.userinfo(token=token)
    check(info.get("sub") == ctx.oidc_user["sub"], f"userinfo's sub is the ID token's: {dict(info)}")
    res = requests.get(ctx.oidc_meta["userinfo_endpoint"], timeout=TIMEOUT)
    check(res.status_code == 401 and res.headers.get("WWW-Authenticate", "").startswith("Bearer"),
          f"userinfo without a token: a Bearer challenge: {describe(res)}")
    session = OAuth2Session(client_id=ctx.oidc_reg["client_id"], client_secret=ctx.oidc_reg["client_secret"],
                            token_endpoint_auth_method="client_secret_basic", default_timeout=TIMEOUT)
    new = dict(session.refresh_token(ctx.oidc_meta["token_endpoint"], refresh_token=token["refresh_token"]))
    check(new.get("access_token") and new["access_token"] != token["access_token"], f"a new access token: {new}")
    if new.get("id_token"):
        # OpenID Connect Core §12.2: same iss, sub and aud; a nonce, if any, the original one.
        again = client.parse_id_token(new, nonce=ctx.oidc_nonce if "nonce" in jws_claims(new["id_token"]) else None)
        check(again["sub"] == ctx.oidc_user["sub"] and again["aud"] == ctx.oidc_user["aud"],
              f"the refreshed ID token's sub and aud: {dict(again)}")
    info = client.userinfo(token=new)
    check(info.get("sub") == ctx.oidc_user["sub"], f"userinfo with the refreshed token: {dict(info)}")


def main():
    for number, (name, fn) in enumerate(STEPS, 1):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            traceback.print_exc(file=sys.stdout)
            print(f"FAIL step {number}/{len(STEPS)}, {name}: {type(e).__name__}: {e}")
            return 1
        print(f"ok   {name}")
    print(f"authlib interop: all {len(STEPS)} steps held")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the server's base URL, its issuer (http://127.0.0.1:PORT)")
    parser.add_argument("--username", default="ada")
    parser.add_argument("--password", default="correct horse battery staple")
    parser.add_argument("--subject", help="the user id introspection must report as sub")
    parser.add_argument("--introspector", required=True,
                        help="CLIENT_ID:SECRET of a client the server trusts to introspect every token")
    parser.add_argument("--initial-access-token", help="the server's RFC 7591 initial access token")
    ARGS = parser.parse_args()
    ARGS.base = ARGS.base.rstrip("/")
    sys.exit(main())
