"""Real mail servers on 127.0.0.1 for tests: Dovecot 2.3 (IMAP, and SASL for Postfix) and
Postfix 3.7 (SMTP with STARTTLS and AUTH), from the distribution's packages, each a private
instance in a temporary directory, with a certificate for 127.0.0.1 from a test CA (trustme).

Both need root (Dovecot switches to the mail user, Postfix's master runs as root). `available()`
says why they cannot run here; under CI (CI=true) a test must not skip for that, see `require()`.

    servers = MailServers().start()      # Dovecot first (Postfix authenticates through it)
    servers.smtp_port, servers.imaps_port, servers.imap_port, servers.ca_file
    servers.deliver(raw_bytes)           # a mail into the reply mailbox, as the MTA would
    servers.maildir("clients")           # what Postfix delivered to @clients.example
    servers.stop()

Domains: clients.example (the clients' mailboxes, one Maildir for all of them),
reply.example (the reply mailbox Dovecot serves to user `caseload`), gone.example (Postfix
accepts, then bounces with 5.1.1: a real DSN to the envelope sender).
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from email.parser import BytesParser, Parser
from email import policy
from pathlib import Path

import pytest

HOST = "127.0.0.1"
MAIL_UID = MAIL_GID = 8  # Debian's `mail` account owns the Maildirs (Dovecot refuses root)
IMAP_USER, IMAP_PASSWORD = "caseload", "imap-secret-1"
SMTP_USER, SMTP_PASSWORD = "sender", "smtp-secret-1"
CLIENTS, REPLY, GONE = "clients.example", "reply.example", "gone.example"


def _tool(name: str) -> str | None:
    for d in ("/usr/sbin", "/usr/bin"):
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    return shutil.which(name)


def available() -> str | None:
    """None when Dovecot and Postfix can run here, else why not."""
    if os.geteuid() != 0:
        return "the mail servers need root"
    for tool in ("dovecot", "doveadm", "postfix"):
        if _tool(tool) is None:
            return f"{tool} is not installed (apt-get install dovecot-imapd postfix)"
    if not Path("/usr/lib/dovecot/imap").exists():
        return "Dovecot's IMAP server is not installed (apt-get install dovecot-imapd)"
    return None


def require() -> None:
    """Skip when the servers cannot run here, except under CI, where they must."""
    why = available()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the mail server tests: {why}")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _run(cmd: list[str], log: Path, check: bool = True) -> None:
    """Run a server's start or stop command; its daemon keeps no pipe of ours open."""
    with open(log, "ab") as out:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{log.read_text(errors='replace')[-3000:]}")


def _wait_port(port: int, what: str, log: Path, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    text = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"{what} did not listen on {port}:\n{text}")


class MailServers:
    def __init__(self):
        self.dir: Path | None = None
        self.dovecot_conf: Path | None = None
        self.postfix_dir: Path | None = None
        self.started: list[str] = []

    # -- paths --

    def mailbox(self, user: str) -> Path:
        return self.dir / "mail" / user / "Maildir"

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    # -- start and stop --

    def start(self) -> "MailServers":
        import trustme

        self.dir = Path(tempfile.mkdtemp(prefix="caseload-mail-"))
        self.dir.chmod(0o755)  # Dovecot's and Postfix's own users walk through it
        self.ca = trustme.CA()
        cert = self.ca.issue_cert(HOST)
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        cert.private_key_pem.write_to_path(str(self.dir / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(self.dir / "cert.pem"))
        for pem in cert.cert_chain_pems[1:]:
            with open(self.dir / "cert.pem", "ab") as f:
                f.write(pem.bytes())
        (self.dir / "key.pem").chmod(0o600)
        mail = self.dir / "mail"
        for user in (IMAP_USER, "clients"):
            for sub in ("cur", "new", "tmp"):
                (self.mailbox(user) / sub).mkdir(parents=True, exist_ok=True)
        for path in [mail, *mail.rglob("*")]:
            os.chown(path, MAIL_UID, MAIL_GID)
        try:
            self._start_dovecot()
            self._start_postfix()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_dovecot(self) -> None:
        d = self.dir / "dovecot"
        d.mkdir()
        self.imaps_port, self.imap_port = _free_port(), _free_port()
        (d / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n"
                                  f"{SMTP_USER}:{{PLAIN}}{SMTP_PASSWORD}::::::\n")
        self.dovecot_conf = d / "dovecot.conf"
        self.dovecot_conf.write_text(f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = {HOST}
ssl = required
ssl_cert = <{self.dir}/cert.pem
ssl_key = <{self.dir}/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_GID} home={self.dir}/mail/%u
}}
first_valid_uid = {MAIL_UID}
first_valid_gid = {MAIL_GID}
mail_location = maildir:{self.dir}/mail/%u/Maildir
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
""")
        _run([_tool("dovecot"), "-c", str(self.dovecot_conf)], d / "start.log")
        self.started.append("dovecot")
        _wait_port(self.imaps_port, "dovecot", d / "dovecot.log")
        self.sasl_path = d / "run" / "auth-postfix"

    def _start_postfix(self) -> None:
        p = self.dir / "postfix"
        p.mkdir()
        self.postfix_dir = p
        self.smtp_port = _free_port()
        (p / "queue").mkdir()
        (p / "data").mkdir()
        import pwd

        os.chown(p / "data", pwd.getpwnam("postfix").pw_uid, -1)
        (p / "mailboxes").write_text(f"/@{CLIENTS.replace('.', '[.]')}$/ clients/Maildir/\n"
                                     f"/@{REPLY.replace('.', '[.]')}$/ {IMAP_USER}/Maildir/\n")
        (p / "transport").write_text(f"{GONE} error:5.1.1 mailbox does not exist\n")
        (p / "main.cf").write_text(f"""
compatibility_level = 3.6
queue_directory = {p}/queue
data_directory = {p}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.test.example
mydomain = test.example
myorigin = test.example
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
maillog_file = {p}/maillog
maillog_file_prefixes = {p}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = yes
smtpd_tls_cert_file = {self.dir}/cert.pem
smtpd_tls_key_file = {self.dir}/key.pem
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self.sasl_path}
smtpd_client_restrictions = permit_sasl_authenticated, reject
smtpd_relay_restrictions = permit_sasl_authenticated, reject
virtual_mailbox_domains = {CLIENTS} {REPLY}
virtual_mailbox_base = {self.dir}/mail
virtual_mailbox_maps = regexp:{p}/mailboxes
virtual_uid_maps = static:{MAIL_UID}
virtual_gid_maps = static:{MAIL_GID}
virtual_minimum_uid = {MAIL_UID}
transport_maps = texthash:{p}/transport
relay_domains = {GONE}
smtpd_reject_unlisted_recipient = no
""")
        (p / "master.cf").write_text(f"""
{HOST}:{self.smtp_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""")
        _run([_tool("postfix"), "-c", str(p), "start"], p / "start.log")
        self.started.append("postfix")
        _wait_port(self.smtp_port, "postfix", p / "maillog")

    def stop(self) -> None:
        if "postfix" in self.started:
            _run([_tool("postfix"), "-c", str(self.postfix_dir), "stop"], self.postfix_dir / "stop.log", check=False)
        if "dovecot" in self.started:
            _run([_tool("doveadm"), "-c", str(self.dovecot_conf), "stop"], self.dovecot_conf.parent / "stop.log", check=False)
        self.started = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- mail in and out --

    def deliver(self, raw: bytes, user: str = IMAP_USER) -> Path:
        """Put a mail into a user's Maildir/new, owned by the mail user, as an MTA would."""
        box = self.mailbox(user)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.test"
        tmp = box / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, MAIL_UID, MAIL_GID)
        final = box / "new" / name
        tmp.rename(final)
        return final

    def maildir(self, user: str) -> list[bytes]:
        """Every mail in a user's Maildir (new and cur), oldest first."""
        box = self.mailbox(user)
        files = sorted([*(box / "new").iterdir(), *(box / "cur").iterdir()], key=lambda f: f.stat().st_mtime_ns)
        return [f.read_bytes() for f in files]

    def wait_maildir(self, user: str, n: int, timeout: float = 30.0) -> list[bytes]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = self.maildir(user)
            if len(found) >= n:
                return found
            time.sleep(0.1)
        log = (self.postfix_dir / "maillog").read_text(errors="replace")[-3000:]
        raise AssertionError(f"{len(self.maildir(user))} of {n} mails arrived for {user}:\n{log}")

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(str(self.ca_file))
        return ctx


def parse(raw: bytes | str):
    """A mail as email.policy.default reads it (a str: a mail whose headers hold UTF-8, RFC 6532)."""
    if isinstance(raw, str):
        return Parser(policy=policy.default).parsestr(raw)
    return BytesParser(policy=policy.default).parsebytes(raw)
