"""The daemon's HTTP endpoint (config `[daemon] listen`, reached from outside at `public_url`):

    GET|POST /sms/{provider}/inbound         an inbound SMS (a module of caseload/channels/sms/)
    GET|POST /sms/{provider}/status          a delivery report
    GET  /a/{signed}/{value}                 a one-tap answer to a check-in question: shows it, with a button
    POST /a/{signed}/{value}                 the button: records the answer, once per question
    GET  /l/{signed}                         a tracked link: records the click, then redirects; an item's
                                             link in a digest shows the item with a button
    POST /l/{signed}                         that button: records the click on the item, then redirects
    GET|POST /unsubscribe/{token}            one-click email unsubscribe (RFC 8058 sends POST)
    GET  /health                             "ok" (for monitoring; says nothing else)

The /sms/ routes are thin: the provider's class (caseload/channels/sms/) verifies the request
(`?token=` equal to CASELOAD_WEBHOOK_TOKEN, or Twilio's signature) and reads it; replies.py
records what it read. Only a request that fails verification gets 403 (503 while the secret it
needs is not configured, so the provider keeps the message and retries later). Anything verified
that cannot be used (another channel, an unknown status, a shape we do not know) is answered 200
and logged with a short reason, never the payload: a 4xx would only make the provider retry it
(CM for a month). Too large (over MAX_BODY), unsized or chunked bodies are refused unread.

The server is the standard library's: one thread reads every connection (selectors) until its
request has arrived whole, and only then hands it to a bounded pool of worker threads, which
parse and answer it with BaseHTTPRequestHandler. No dependency, a few routes, tens of requests
per second at most, and a small resident size for a process that idles most of the day. A slow
client holds a socket, never a worker; a request has one deadline for the whole of it
(REQUEST_SECONDS), one client address at most PER_CLIENT unfinished requests, and a full pool
answers 503 at once, so /health keeps answering. IPv4 and IPv6 addresses both work
(`[::1]:8425`). Each worker has its own SQLite connection. Errors are logged by type only (no
personal data, no payloads).
"""

import html
import io
import logging
import re
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from .. import client_texts, languages, replies
from ..errors import CaseloadError
from ..i18n import t
from ..secrets import get_secret

log = logging.getLogger("caseload.webhooks")

MAX_BODY = 64 * 1024
MAX_HEAD = 16 * 1024
MAX_URL = 4096
WORKERS = 8
TIMEOUT = 10.0  # writing an answer, per send
REQUEST_SECONDS = 10.0  # for the whole request to arrive, from the connection on
PER_CLIENT = 8  # unfinished requests of one client address
MAX_PENDING = 512  # unfinished requests in all
_SMS = re.compile(r"/sms/([a-z]+)/(inbound|status)")
_ANSWER = re.compile(r"/a/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/([^/]{1,200})")
_TRACKED = re.compile(r"/l/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")
_UNSUBSCRIBE = re.compile(r"/unsubscribe/([0-9a-f]{8,64})")
# pages for clients, on a phone first: text that wraps (long words too), buttons a thumb can hit
PAGE_STYLE = ("body{font-family:system-ui,sans-serif;font-size:1.125rem;line-height:1.5;margin:0;padding:1rem;"
              "overflow-wrap:anywhere}main{max-width:32rem;margin:0 auto}h1{font-size:1.5rem}"
              "button{font:inherit;font-weight:bold;width:100%;min-height:48px;padding:.75rem 1rem;border:0;"
              "border-radius:.5rem;background:#1a5fb4;color:#fff}.org{color:#555;font-size:1rem}")


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
        self.sms_token = sms_token  # read when a provider verifies its webhooks with it
        self._providers = {}
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
        if m:
            return self.tracked(m[1], method, path)
        m = _UNSUBSCRIBE.fullmatch(path)
        if m:
            return self.unsubscribe(m[1], method)
        return _text(404, "not found")

    # -- SMS webhooks --

    def provider(self, name: str):
        """The provider instance that reads /sms/{name}/..., or None when there is none."""
        from ..channels import sms

        with self._lock:
            if name not in self._providers:
                cls = sms.provider_class(name)
                p = cls(self.config) if cls is not None else None
                self._providers[name] = p if p is not None and p.reachable() else None
            return self._providers[name]

    def sms(self, method, name, kind, target, query, headers, body) -> Response:
        """Thin: the provider's class verifies the request and reads it; replies records it."""
        from ..channels.sms import Unusable, Webhook

        provider = self.provider(name)
        if provider is None:
            return _text(404, "not found")
        if method not in ("POST", "GET"):
            return _text(405, "method not allowed")
        if provider.needs_api_token and self.sms_token is None:
            self.sms_token = get_secret("sms_token")
        hook = Webhook(method, self.config.daemon.public_url.rstrip("/") + target, query, headers, body)
        refused = provider.verify(hook, self.secret, self.sms_token)
        if refused:
            return _text(*refused)
        try:
            items = [provider.inbound(hook)] if kind == "inbound" else provider.statuses(hook)
        except Unusable as e:  # answered 200: a 4xx only makes the provider retry what we cannot use
            log.warning("ignored a %s %s webhook: %s", name, kind, e)
            items = []
        store = self.store()
        for item in items:
            if kind == "inbound":
                replies.handle_sms(store, item)
            else:
                replies.record_status(store, item)
        content_type, answer = provider.answer(kind)
        return Response(200, answer, content_type)

    # -- pages for clients --

    def _language(self, lang: str | None) -> str:
        """The client's language when caseload has its texts, else the organisation's."""
        return lang if client_texts.has(lang) else self.config.message_language

    def _page(self, status: int, lang: str | None, key: str, form: str = "", **values) -> Response:
        """A page for a client, in their language (right to left where it runs so), readable on a
        phone: the text wraps, a button is at least 48 px high and as wide as the text column."""
        lang = self._language(lang)
        title = html.escape(client_texts.text(f"links.{key}_title", lang))
        text = html.escape(client_texts.text(f"links.{key}", lang, **values))
        return self._html(status, lang, title, f"<h1>{title}</h1><p>{text}</p>{form}")

    def _html(self, status: int, lang: str, title: str, content: str) -> Response:
        """The frame of every page for clients; `title` and `content` are HTML already."""
        org = html.escape(self.config.organisation.name)
        rtl = ' dir="rtl"' if languages.rtl(lang) else ""
        page = (f'<!doctype html><html lang="{lang}"{rtl}><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
                f"<style>{PAGE_STYLE}</style></head>"
                f"<body><main>{content}<p class=org>{org}</p></main></body></html>")
        return Response(status, page.encode(), "text/html; charset=utf-8",
                        {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    def _button_form(self, action: str, lang: str | None, key: str) -> str:
        button = html.escape(client_texts.text(f"links.{key}", self._language(lang)))
        return (f'<form method="post" action="{html.escape(action, quote=True)}">'
                f'<button type="submit">{button}</button></form>')

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
            return self._page(200, result.language, "confirm", self._button_form(path, result.language, "confirm_button"),
                              answer=result.label)
        if result.outcome in ("observation", "duplicate"):
            return self._page(200, result.language, "thanks")
        return self._page(404, result.language, "invalid")

    def tracked(self, signed: str, method: str, path: str) -> Response:
        """A plain tracked link records the click on a GET and redirects. An item's link in a
        digest feeds the ranking (caseload.offers), so link scanners must not click it: mail
        filters and SMS link previews fetch every link they see, and many follow redirects.
        Its GET shows the item (title and text) with one button, without JavaScript; the
        button's POST records the click against the client and the item, then redirects.
        Scanners do not submit forms, so no timing or user-agent guess is needed."""
        from ..links import read_link

        if self.key is None:
            return _text(503, "not configured")
        found = read_link(self.key, signed)
        if found is None:
            return self._page(404, None, "invalid")
        token, url, item = found
        if item is None:
            if method == "POST":
                return _text(405, "method not allowed")
            if method == "GET":
                replies.click(self.store(), token)
            return Response(302, b"", headers={"Location": url, "Cache-Control": "no-store",
                                               "Referrer-Policy": "no-referrer"})
        if method == "POST":
            replies.click(self.store(), token, item_id=item)
            return Response(303, b"", headers={"Location": url, "Cache-Control": "no-store",
                                               "Referrer-Policy": "no-referrer"})
        if method == "HEAD":
            return Response(200)
        return self._item_page(token, item, path)

    def _item_page(self, token: str, item_id: int, path: str) -> Response:
        """An item's title and text in the item's own language and direction, in a page and with a
        button in the client's language (the message's)."""
        from .. import outbox

        store = self.store()
        m = outbox.find_by_token(store, token)
        row = store.conn.execute("SELECT title, text, language FROM items WHERE id = ?", [item_id]).fetchone()
        found = store.conn.execute("SELECT language FROM messages WHERE id = ?", [m["id"]]).fetchone() if m else None
        lang = self._language(found[0] if found else None)
        if row is None:
            title = html.escape(client_texts.text("links.item_title", lang))
            content = f"<h1>{title}</h1>"
        else:
            title = html.escape(row[0])
            item = f' lang="{html.escape(row[2])}" dir="{languages.direction(row[2])}"' if languages.is_code(row[2]) else ""
            text = f'<p{item} style="white-space:pre-line">{html.escape(row[1])}</p>' if row[1] else ""
            content = f"<h1{item}>{title}</h1>{text}"
        return self._html(200, lang, title, content + self._button_form(path, lang, "item_button"))

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
        return self._page(200, lang, "unsubscribe", self._button_form(f"/unsubscribe/{token}", lang, "unsubscribe_button"))


# --- the HTTP server ------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "caseload"
    sys_version = ""

    def setup(self):  # the request has arrived whole (Server): it is read from memory
        self.connection = self.request.sock
        self.rfile = io.BytesIO(self.request.data)
        self.wfile = self.connection.makefile("wb")

    def finish(self):
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.wfile.close()

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


class _Arrived:
    """A connection whose request has arrived whole (the Server read it without a worker)."""

    def __init__(self, sock, data: bytes):
        self.sock, self.data = sock, data


class _Pending:
    __slots__ = ("sock", "peer", "data", "started")

    def __init__(self, sock, peer):
        self.sock, self.peer, self.data, self.started = sock, peer, bytearray(), time.monotonic()


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r?(?:\n|$)")


def _arrived(data: bytearray) -> str | None:
    """"whole" when a request has arrived (or enough of it to answer: the handler refuses what is
    too large or has no length), "too_large" for an endless head, None while more must come."""
    m = _HEAD_END.search(data)
    if m is None:
        return "too_large" if len(data) > MAX_HEAD else None
    head = bytes(data[:m.start()]).lower()
    if b"\ntransfer-encoding:" in head:
        return "whole"
    length = _LENGTH.search(head + b"\n")
    if length is None or int(length[1]) > MAX_BODY:
        return "whole"
    return "whole" if len(data) - m.end() >= int(length[1]) else None


class Server:
    """The endpoint's server. One thread reads requests from every connection (selectors), and
    only a request that has arrived whole goes to a worker: a slow client holds a socket and a
    buffer, never a worker, so /health keeps answering. Each request must arrive within
    REQUEST_SECONDS in all (not per read: a byte every second does not keep it alive); one client
    address holds at most PER_CLIENT unfinished requests (a new one pushes out its oldest), and
    all together at most MAX_PENDING. A full pool of workers answers 503 at once."""

    def __init__(self, address: tuple[str, int], endpoint: Endpoint, workers: int = WORKERS):
        self.endpoint = endpoint
        host, port = address
        sock = None
        try:
            family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                  flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(128)
        except OSError as e:
            if sock is not None:
                sock.close()
            shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise CaseloadError(t("daemon.listen_failed", address=shown,
                                  reason=e.strerror or type(e).__name__)) from None
        sock.setblocking(False)
        self.socket = sock
        self.server_address = sock.getsockname()[:2]
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, None)
        self.pending: dict[int, _Pending] = {}  # oldest first
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self.slots = threading.BoundedSemaphore(workers * 4)
        self._stop = threading.Event()
        self._stopped = threading.Event()

    # -- the reading thread --

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        try:
            while not self._stop.is_set():
                for key, _ in self.selector.select(poll_interval):
                    if key.data is None:
                        self._accept()
                    else:
                        self._read(key.data)
                self._expire()
        finally:
            self._stopped.set()

    def _accept(self) -> None:
        for _ in range(64):
            try:
                conn, peer = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # out of file descriptors, say: the next round tries again
                log.warning("webhook accept failed: %s", type(e).__name__)
                return
            conn.setblocking(False)
            same = [p for p in self.pending.values() if p.peer[0] == peer[0]]
            if len(same) >= PER_CLIENT:
                self._drop(same[0], 503)
            if len(self.pending) >= MAX_PENDING:
                self._drop(next(iter(self.pending.values())), 503)
            p = _Pending(conn, peer)
            self.pending[conn.fileno()] = p
            self.selector.register(conn, selectors.EVENT_READ, p)

    def _read(self, p: _Pending) -> None:
        try:
            chunk = p.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            return self._drop(p)
        p.data += chunk
        state = _arrived(p.data)
        if state is None:
            return
        if state == "too_large":
            return self._drop(p, 431)
        self._forget(p)
        if not self.slots.acquire(blocking=False):
            return self._close(p.sock, 503)
        self.pool.submit(self._work, p)

    def _expire(self) -> None:
        deadline = time.monotonic() - REQUEST_SECONDS
        for p in [p for p in self.pending.values() if p.started < deadline]:
            self._drop(p, 408)

    def _forget(self, p: _Pending) -> None:
        self.pending.pop(p.sock.fileno(), None)
        try:
            self.selector.unregister(p.sock)
        except (KeyError, ValueError):
            pass

    def _drop(self, p: _Pending, status: int | None = None) -> None:
        self._forget(p)
        self._close(p.sock, status)

    @staticmethod
    def _close(sock, status: int | None = None) -> None:
        if status is not None:
            reason = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}
            try:
                sock.send(f"HTTP/1.1 {status} {reason[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                          .encode())
            except OSError:
                pass
        try:
            sock.close()
        except OSError:
            pass

    # -- the workers --

    def _work(self, p: _Pending) -> None:
        try:
            p.sock.setblocking(True)
            p.sock.settimeout(TIMEOUT)
            _Handler(_Arrived(p.sock, bytes(p.data)), p.peer, self)
        except Exception as e:
            log.warning("webhook connection failed: %s", type(e).__name__)
        finally:
            try:
                p.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._close(p.sock)
            self.slots.release()

    def stop(self) -> None:
        """Stop accepting, let requests in progress finish, close the database connections."""
        self._stop.set()
        self._stopped.wait(5)
        self.pool.shutdown(wait=True)
        for p in list(self.pending.values()):
            self._drop(p)
        self.selector.close()
        self.socket.close()
        self.endpoint.close()


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CaseloadError(t("daemon.bad_listen", value=text))
    return host.strip("[]") or "127.0.0.1", int(port)


def serve(config, store_factory, listen: str | None = None) -> Server:
    """Start the endpoint in a background thread; returns the server (call .stop()). An address
    it cannot listen on (in use, not this host's) is a CaseloadError naming it."""
    address = parse_listen(listen or config.daemon.listen)
    server = Server(address, Endpoint(config, store_factory))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="webhooks", daemon=True).start()
    return server
