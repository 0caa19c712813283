"""The daemon's HTTP endpoint (config `[daemon] listen`, reached from outside at `public_url`):

    POST /sms/{provider}/inbound?token=...   an inbound SMS (cm, spryng, messagebird, twilio)
    POST /sms/{provider}/status?token=...    a delivery report
    GET  /a/{signed}/{value}                 a one-tap answer to a check-in question: shows it, with a button
    POST /a/{signed}/{value}                 the button: records the answer, once per question
    GET  /l/{signed}                         a tracked link: records the click, then redirects
    GET|POST /unsubscribe/{token}            one-click email unsubscribe (RFC 8058 sends POST)
    GET  /health                             "ok" (for monitoring; says nothing else)

Every /sms/ request carries `?token=` equal to CASELOAD_WEBHOOK_TOKEN (or keyring
caseload:webhook_token), except Twilio's, which are verified by X-Twilio-Signature instead
(HMAC-SHA1 with the account's auth token over the public URL and the sorted form fields; the
StatusCallback our SMS channel sets carries no token). A token given to Twilio's must match too. A request that is not
signed, too large (over MAX_BODY), malformed or not in the provider's documented shape gets a 4xx
answer and writes nothing. Without a configured secret the SMS endpoints answer 503, so the
provider keeps the message and retries later. Spryng and MessageBird may call with GET; their
fields then come from the query string.

The server is the standard library's HTTPServer with a bounded pool of worker threads (not
ThreadingHTTPServer's thread per connection): no dependency, a few routes, tens of requests per
second at most, and a small resident size for a process that idles most of the day. Each worker
has its own SQLite connection; requests are bounded in size and time, and a full pool answers
503 at once. Errors are logged by type only (no personal data, no payloads).
"""

import base64
import hashlib
import hmac
import html
import json
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .. import replies
from ..errors import CaseloadError
from ..i18n import t
from ..secrets import get_secret

log = logging.getLogger("caseload.webhooks")

MAX_BODY = 64 * 1024
MAX_URL = 4096
WORKERS = 8
TIMEOUT = 10.0
PROVIDERS = ("cm", "spryng", "messagebird", "twilio")
GET_PROVIDERS = ("spryng", "messagebird")  # they may send their callbacks as GET
_SMS = re.compile(r"/sms/([a-z]+)/(inbound|status)")
_ANSWER = re.compile(r"/a/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/([^/]{1,200})")
_TRACKED = re.compile(r"/l/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")
_UNSUBSCRIBE = re.compile(r"/unsubscribe/([0-9a-f]{8,64})")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict = field(default_factory=dict)


def _text(status: int, text: str) -> Response:
    return Response(status, text.encode())


class Endpoint:
    """The request handling, free of sockets: `handle` takes a request and returns a Response.
    `store()` gives this thread's Store."""

    def __init__(self, config, store_factory, secret: str | None = None, sms_token: str | None = None):
        self.config = config
        self._factory = store_factory
        self._local = threading.local()
        self._stores = []
        self._lock = threading.Lock()
        self.secret = secret if secret is not None else get_secret("webhook_token")
        self.sms_token = sms_token if sms_token is not None else (
            get_secret("sms_token") if config.sms.provider == "twilio" else None)
        self.key = None
        if self.secret:
            from ..links import link_key

            self.key = link_key(self.secret)

    def store(self):
        s = getattr(self._local, "store", None)
        if s is None:
            s = self._factory()
            self._local.store = s
            with self._lock:
                self._stores.append(s)
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._stores:
                try:
                    s.close()
                except Exception:  # closing at exit: nothing left to protect
                    pass
            self._stores.clear()

    # -- routing --

    def handle(self, method: str, target: str, headers, body: bytes) -> Response:
        if len(target) > MAX_URL:
            return _text(414, "uri too long")
        parts = urlsplit(target)
        path = parts.path
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False, max_num_fields=100)
        except ValueError:
            return _text(400, "bad query")
        if path == "/health" and method in ("GET", "HEAD"):
            return _text(200, "ok")
        m = _SMS.fullmatch(path)
        if m:
            return self.sms(method, m[1], m[2], target, query, headers, body)
        if method not in ("GET", "HEAD", "POST"):
            return _text(405, "method not allowed")
        m = _ANSWER.fullmatch(path)
        if m:
            return self.answer(m[1], unquote(m[2]), method, path)
        m = _TRACKED.fullmatch(path)
        if m and method in ("GET", "HEAD"):
            return self.tracked(m[1], method)
        m = _UNSUBSCRIBE.fullmatch(path)
        if m:
            return self.unsubscribe(m[1], method)
        return _text(404, "not found")

    # -- SMS webhooks --

    def _authorised(self, query: dict) -> Response | None:
        if not self.secret:
            return _text(503, "webhook secret not configured")
        given = query.get("token", [])
        if len(given) != 1 or not hmac.compare_digest(given[0].encode("utf-8", "replace"), self.secret.encode()):
            return _text(403, "forbidden")
        return None

    def _fields(self, method: str, query: dict, headers, body: bytes) -> dict:
        if method == "GET":
            return {k: v[0] for k, v in query.items() if k != "token" and len(v) == 1}
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise replies.BadPayload("encoding") from None
        if ctype == "application/json":
            try:
                data = json.loads(text)
            except ValueError:
                raise replies.BadPayload("json") from None
            if not isinstance(data, dict):
                raise replies.BadPayload("json")
            return data
        if ctype == "application/x-www-form-urlencoded":
            try:
                form = parse_qs(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200)
            except ValueError:
                raise replies.BadPayload("form") from None
            if any(len(v) != 1 for v in form.values()):
                raise replies.BadPayload("form")
            return {k: v[0] for k, v in form.items()}
        raise replies.BadPayload("content type")

    def twilio_signature_ok(self, target: str, headers, fields: dict) -> bool:
        given = headers.get("X-Twilio-Signature") or ""
        if not self.sms_token or not given:
            return False
        url = self.config.daemon.public_url.rstrip("/") + target
        expected = twilio_signature(self.sms_token, url, fields)
        return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))

    def sms(self, method, provider, kind, target, query, headers, body) -> Response:
        if provider not in PROVIDERS:
            return _text(404, "not found")
        if method not in ("POST", "GET") or (method == "GET" and provider not in GET_PROVIDERS):
            return _text(405, "method not allowed")
        if provider == "twilio" and self.config.sms.provider != "twilio":
            return _text(404, "not found")
        # Twilio signs every request (checked below); a token, when present, must be right too
        if provider != "twilio" or "token" in query:
            refused = self._authorised(query)
            if refused:
                return refused
        try:
            fields = self._fields(method, query, headers, body)
            if provider == "twilio":
                if not self.twilio_signature_ok(target, headers, fields):
                    return _text(403, "bad signature")
                if fields.get("AccountSid") != self.config.sms.account:
                    return _text(403, "other account")
            parsed = replies.parse_inbound(provider, fields) if kind == "inbound" else replies.parse_status(provider, fields)
        except replies.BadPayload as e:
            log.info("refused a %s %s webhook: %s", provider, kind, e)
            return _text(400, "bad payload")
        store = self.store()
        if kind == "inbound":
            replies.handle_sms(store, parsed)
            if provider == "twilio":
                return Response(200, b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>', "text/xml")
        else:
            replies.record_status(store, parsed)
        return _text(200, "ok")

    # -- pages for clients --

    def _page(self, status: int, lang: str | None, key: str, **values) -> Response:
        lang = lang if lang in ("nl", "en") else self.config.message_language
        title = html.escape(t(f"links.{key}_title", lang=lang))
        text = html.escape(t(f"links.{key}", lang=lang, **values))
        org = html.escape(self.config.organisation.name)
        page = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>'
                f'<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">'
                f"<h1>{title}</h1><p>{text}</p><p>{org}</p></body></html>")
        return Response(status, page.encode(), "text/html; charset=utf-8",
                        {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    def answer(self, signed: str, value: str, method: str, path: str) -> Response:
        """A GET only shows the answer with a button: mail filters and link scanners fetch every
        link in an email, which would answer every option of every question. The button's POST
        records it, once per question; a replay changes nothing and thanks again."""
        from ..links import read_answer

        if self.key is None:
            return _text(503, "not configured")
        ans, problem = read_answer(self.key, signed)
        if ans is None:
            return self._page(404, None, "invalid")
        if problem == "expired":
            return self._page(410, None, "expired")
        if method == "HEAD":
            return Response(200)
        result = replies.tap(self.store(), ans.checkin_id, ans.position, value, record=method == "POST",
                             legacy=ans.legacy)
        if result.outcome == "confirm":
            lang = result.language if result.language in ("nl", "en") else None
            r = self._page(200, result.language, "confirm", answer=result.label)
            button = html.escape(t("links.confirm_button", lang=lang))
            form = (f'<form method="post" action="{html.escape(path, quote=True)}">'
                    f'<button type="submit">{button}</button></form></body>').encode()
            r.body = r.body.replace(b"</body>", form, 1)
            return r
        if result.outcome in ("observation", "duplicate"):
            return self._page(200, result.language, "thanks")
        return self._page(404, result.language, "invalid")

    def tracked(self, signed: str, method: str) -> Response:
        from ..links import read_tracked

        if self.key is None:
            return _text(503, "not configured")
        found = read_tracked(self.key, signed)
        if found is None:
            return self._page(404, None, "invalid")
        token, url = found
        if method == "GET":
            replies.click(self.store(), token)
        return Response(302, b"", headers={"Location": url, "Cache-Control": "no-store",
                                           "Referrer-Policy": "no-referrer"})

    def unsubscribe(self, token: str, method: str) -> Response:
        from .. import outbox

        store = self.store()
        m = outbox.find_by_token(store, token)
        if m is None:
            return self._page(404, None, "invalid")
        lang = store.conn.execute("SELECT language FROM clients WHERE id = ?", [m["client_id"]]).fetchone()
        lang = lang[0] if lang else None
        if method != "POST":  # a GET (or a link scanner) only shows the button
            return self._confirm_page(lang, token)
        replies.unsubscribe(store, token)
        return self._page(200, lang, "unsubscribed")

    def _confirm_page(self, lang, token: str) -> Response:
        r = self._page(200, lang, "unsubscribe")
        button = html.escape(t("links.unsubscribe_button", lang=lang if lang in ("nl", "en") else None))
        form = (f'<form method="post" action="/unsubscribe/{token}"><button type="submit">{button}</button></form>'
                "</body>").encode()
        r.body = r.body.replace(b"</body>", form, 1)
        return r


def twilio_signature(auth_token: str, url: str, fields: dict) -> str:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 over the URL and the sorted POST fields."""
    data = url + "".join(f"{k}{fields[k]}" for k in sorted(fields))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


# --- the HTTP server ------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT
    server_version = "caseload"
    sys_version = ""

    def log_message(self, *args):  # the default logs the request line, which may hold a phone number
        pass

    def _respond(self, r: Response) -> None:
        self.send_response(r.status)
        self.send_header("Content-Type", r.content_type)
        self.send_header("Content-Length", str(len(r.body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in r.headers.items():
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(r.body)
        self.close_connection = True

    def _run(self) -> None:
        body = b""
        if self.command == "POST":
            if self.headers.get("Transfer-Encoding"):
                return self._respond(_text(411, "length required"))
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                return self._respond(_text(411, "length required"))
            if int(length) > MAX_BODY:
                return self._respond(_text(413, "too large"))
            body = self.rfile.read(int(length))
            if len(body) != int(length):
                return self._respond(_text(400, "short body"))
        try:
            r = self.server.endpoint.handle(self.command, self.path, self.headers, body)
        except CaseloadError as e:
            log.error("webhook failed: %s", type(e).__name__)
            r = _text(500, "error")
        except Exception as e:  # the provider retries a 5xx; never a traceback with data in it
            log.error("webhook failed: %s", type(e).__name__)
            r = _text(500, "error")
        self._respond(r)

    do_GET = do_POST = do_HEAD = _run

    def do_PUT(self):
        self._respond(_text(405, "method not allowed"))

    do_DELETE = do_PATCH = do_PUT


class Server(HTTPServer):
    """HTTPServer with a bounded pool of worker threads; a full pool answers 503 at once."""

    daemon_threads = True

    def __init__(self, address, endpoint: Endpoint, workers: int = WORKERS):
        self.endpoint = endpoint
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self.slots = threading.BoundedSemaphore(workers * 4)
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        self.pool.submit(self._work, request, client_address)

    def _work(self, request, client_address):
        try:
            request.settimeout(TIMEOUT)
            self.finish_request(request, client_address)
        except Exception as e:
            log.warning("webhook connection failed: %s", type(e).__name__)
        finally:
            self.shutdown_request(request)
            self.slots.release()

    def handle_error(self, request, client_address):
        log.warning("webhook connection error")

    def stop(self) -> None:
        """Stop accepting, let requests in progress finish, close the database connections."""
        self.shutdown()
        self.pool.shutdown(wait=True)
        self.server_close()
        self.endpoint.close()


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CaseloadError(t("daemon.bad_listen", value=text))
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(config, store_factory, listen: str | None = None) -> Server:
    """Start the endpoint in a background thread; returns the server (call .stop())."""
    address = parse_listen(listen or config.daemon.listen)
    server = Server(address, Endpoint(config, store_factory))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="webhooks", daemon=True).start()
    return server
