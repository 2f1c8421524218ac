"""A small OpenID Connect provider for the single sign-on tests, run as its own process.

Real where Redress can tell: its own HTTP server, a discovery document, a JWKS endpoint,
ID tokens signed RS256 with a key made per run, the authorization-code flow with a login
form, a token endpoint that checks the client secret, the code, the redirect URI and the
PKCE verifier, and a userinfo endpoint. Minimal elsewhere: one client, codes kept in memory.

People are read from a JSON file at each sign-in (the test edits it between sign-ins):
``{"username": {"password": …, "claims": {…}, "quirk": ""}}``. A quirk makes the provider
misbehave the way an attacker or a broken provider would: ``expired``, ``wrong_audience``,
``wrong_nonce``, ``wrong_issuer``, ``bad_signature`` (signed by another key, same ``kid``).

    python -m tests.oidc_provider PEOPLE_FILE CLIENT_ID CLIENT_SECRET

prints ``port <n>`` once it listens on 127.0.0.1.
"""

import base64
import hashlib
import html
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_ID = "test-key-1"
TOKEN_SECONDS = 300


class Provider:
    def __init__(self, people_file: Path, client_id: str, client_secret: str, port: int):
        self.people_file = people_file
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = f"http://127.0.0.1:{port}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict] = {}  # code -> what the token endpoint answers for it
        self.access: dict[str, dict] = {}  # access token -> userinfo claims

    def people(self) -> dict:
        return json.loads(self.people_file.read_text())

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=KEY_ID, use="sig", alg="RS256")
        return {"keys": [jwk]}

    def id_token(self, person: dict, nonce: str) -> str:
        now = int(time.time())
        quirk = person.get("quirk", "")
        claims = {
            **person["claims"],
            "iss": self.issuer if quirk != "wrong_issuer" else "http://elsewhere.invalid",
            "aud": self.client_id if quirk != "wrong_audience" else "another-client",
            "iat": now if quirk != "expired" else now - 2 * TOKEN_SECONDS,
            "exp": now + TOKEN_SECONDS if quirk != "expired" else now - TOKEN_SECONDS,
            "nonce": nonce if quirk != "wrong_nonce" else "not-the-nonce",
        }
        key = self.key
        if quirk == "bad_signature":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def handler_for(provider: Provider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the test reads answers, not logs
            pass

        def _send(self, status: int, body: str, content_type="application/json", headers=None):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, value: dict):
            self._send(status, json.dumps(value))

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length", "0"))
            fields = parse_qs(self.rfile.read(length).decode())
            return {name: values[0] for name, values in fields.items()}

        def do_GET(self):
            url = urlparse(self.path)
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                return self._json(200, provider.discovery())
            if url.path == "/jwks":
                return self._json(200, provider.jwks())
            if url.path == "/authorize":
                return self._login_form(query)
            if url.path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                claims = provider.access.get(token)
                if claims is None:
                    return self._json(401, {"error": "invalid_token"})
                return self._json(200, claims)
            return self._json(404, {"error": "not_found"})

        def _login_form(self, query: dict, error: str = ""):
            if query.get("client_id") != provider.client_id or query.get("response_type") != (
                "code"
            ):
                return self._json(400, {"error": "invalid_request"})
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in query.items()
            )
            page = (
                f"<html><body><p>{html.escape(error)}</p>"
                f'<form method="post" action="/authorize">{hidden}'
                '<input name="username"><input name="password" type="password">'
                "<button>Sign in</button></form></body></html>"
            )
            return self._send(200, page, content_type="text/html")

        def do_POST(self):
            url = urlparse(self.path)
            form = self._form()
            if url.path == "/authorize":
                return self._authorize(form)
            if url.path == "/token":
                return self._token(form)
            return self._json(404, {"error": "not_found"})

        def _authorize(self, form: dict):
            person = provider.people().get(form.pop("username", ""))
            password = form.pop("password", "")
            if person is None or not secrets.compare_digest(person["password"], password):
                return self._login_form(form, error="Wrong username or password.")
            code = secrets.token_urlsafe(24)
            access_token = secrets.token_urlsafe(24)
            provider.access[access_token] = dict(person["claims"])
            provider.codes[code] = {
                "redirect_uri": form["redirect_uri"],
                "code_challenge": form.get("code_challenge", ""),
                "answer": {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": TOKEN_SECONDS,
                    "id_token": provider.id_token(person, form.get("nonce", "")),
                },
            }
            target = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form['state']})}"
            return self._send(302, "", headers={"Location": target})

        def _token(self, form: dict):
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            basic = self.headers.get("Authorization", "")
            if basic.startswith("Basic "):
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            if client_id != provider.client_id or client_secret != provider.client_secret:
                return self._json(401, {"error": "invalid_client"})
            grant = provider.codes.pop(form.get("code", ""), None)  # a code works once
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return self._json(400, {"error": "invalid_grant"})
            if grant["code_challenge"] != pkce_challenge(form.get("code_verifier", "")):
                return self._json(400, {"error": "invalid_grant"})  # RFC 7636, S256
            return self._json(200, grant["answer"])

    return Handler


def main(people_file: str, client_id: str, client_secret: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    provider = Provider(Path(people_file), client_id, client_secret, server.server_port)
    server.RequestHandlerClass = handler_for(provider)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:4])
