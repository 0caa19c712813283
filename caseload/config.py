"""config.toml: read with tomllib, validated strictly against the dataclasses below.

Each section is a frozen dataclass; a field's `doc` metadata is its documentation. An unknown
key, a wrong type or a missing value is one BadInput naming the key and the file.
"""

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import BadInput
from .i18n import t


def doc(text: str, **kw):
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Organisation:
    name: str = doc("The organisation's name, shown in the TUI and reports.", default="Gemeente")
    timezone: str = doc("IANA timezone for quiet hours and relative dates.", default="Europe/Amsterdam")
    language: str = doc("Language of the UI and default language of messages: nl or en; empty: from the locale, else nl.", default="")


@dataclass(frozen=True)
class Database:
    path: str = doc("The SQLite file; --db and CASELOAD_DB override it.", default="")


@dataclass(frozen=True)
class Reports:
    min_cell_size: int = doc("Groups smaller than this are suppressed in every aggregate.", default=5)
    attention_recent_days: int = doc("A new barrier, a wellbeing drop or an unread reply this recent puts a client on the attention list.", default=14)


@dataclass(frozen=True)
class Privacy:
    epsilon: float = doc("Differential privacy: what one new analyst query (a count or a report) may reveal about any one client; smaller means more noise. See docs/operations.md.", default=0.5)
    budget: float = doc("The sum of epsilons one analyst may spend per period; then new queries are refused until the next.", default=10.0)
    period_days: int = doc("Length of a budget period in days; a query asked again within it gets the same answer, at no cost.", default=30)


@dataclass(frozen=True)
class CatalogSection:
    file: str = doc('The catalog file, relative to config.toml; "default" is the shipped one.', default="default")
    exclude: list[str] = doc("Characteristic keys the organisation does not keep.", default_factory=list)


@dataclass(frozen=True)
class Email:
    host: str = doc("SMTP relay host.", default="localhost")
    port: int = doc("SMTP port.", default=587)
    security: str = doc("starttls | ssl | none", default="starttls")
    username: str = doc("Omit for a relay without login; password from CASELOAD_SMTP_PASSWORD or keyring.", default="")
    sender: str = doc("From address, e.g. 'Werkplein <noreply@example.org>'.", default="caseload <noreply@localhost>")
    reply_domain: str = doc("Domain of the Reply-To address that carries a message token; empty: the sender's.", default="")
    timeout: float = doc("Seconds before an SMTP operation gives up.", default=30.0)
    ca_file: str = doc("A PEM file with the CA that signed the relay's certificate (an internal CA), trusted besides the system's; relative to config.toml. Empty: the system's only.", default="")
    verp: bool = doc("Send with the envelope sender (Return-Path) bounce+TOKEN@reply_domain, so a bounce names its message; the reply mailbox must receive it. false: the sender's address (for a relay that allows only that).", default=True)


@dataclass(frozen=True)
class Sms:
    provider: str = doc("cm | messagebird | spryng | twilio (a module each in caseload/channels/sms/); token from CASELOAD_SMS_TOKEN or keyring.", default="cm")
    sender: str = doc("Who an SMS comes from: a reply number in E.164 (\"+3197010203040\", a number you have at the provider), which clients can answer, or a name of at most 11 letters, digits and spaces, which they cannot answer (replies need a number).", default="Gemeente")
    base_url: str = doc("Optional: another address for the provider's API.", default="")
    account: str = doc("Twilio account SID (not a secret).", default="")
    timeout: float = doc("Seconds before an HTTP request gives up.", default=15.0)


@dataclass(frozen=True)
class Policy:
    quiet_hours: str = doc('"21:00-08:00": messages wait; "" turns them off.', default="21:00-08:00")
    max_per_week: int = doc("Frequency cap per client per 7 days.", default=3)
    rate_per_minute_email: int = doc("Rate limit for email.", default=600)
    rate_per_minute_sms: int = doc("Rate limit for SMS.", default=120)
    pause_after_failures: int = doc("A campaign pauses after this many failures in a row.", default=10)
    max_attempts: int = doc("Temporary failures are retried this many times.", default=8)
    expire_after_hours: int = doc("A message not sent this long after it was due expires; 0: never.", default=168)


@dataclass(frozen=True)
class Daemon:
    listen: str = doc("Address of the webhook endpoint.", default="127.0.0.1:8425")
    public_url: str = doc("The public URL the endpoint is reached at, for links.", default="http://127.0.0.1:8425")
    backup_dir: str = doc("Nightly backups go here; empty: no backup.", default="")
    backup_at: str = doc("Local time of the nightly jobs.", default="02:30")
    reply_window_hours: int = doc("How long a check-in question waits for its reply.", default=72)
    inactive_days: int = doc("No activity for this many days puts a client on the attention list.", default=30)
    missed_checkins: int = doc("This many check-ins without reply puts a client on the attention list.", default=2)
    tick_seconds: float = doc("Seconds between the daemon's rounds (sending, check-ins, replies); tests use less.", default=60.0)
    link_days: int = doc("One-tap answer links in check-in emails stay valid this many days.", default=14)


@dataclass(frozen=True)
class Imap:
    host: str = doc("IMAP host for email replies; empty: off.", default="")
    port: int = doc("IMAP port.", default=993)
    username: str = doc("IMAP user; password from CASELOAD_IMAP_PASSWORD or keyring.", default="")
    folder: str = doc("Folder to read.", default="INBOX")
    security: str = doc("ssl | starttls | none", default="ssl")
    ca_file: str = doc("A PEM file with the CA that signed the IMAP server's certificate (an internal CA), trusted besides the system's; relative to config.toml. Empty: the system's only.", default="")


@dataclass(frozen=True)
class Retention:
    years_after_outflow: int = doc("Clients are erased this many years after outflow; 0: never.", default=10)
    observation_days: int = doc("Observations older than this are deleted, unless the characteristic sets its own; 0: never.", default=0)
    audit_years: int = doc("Audit entries are kept this long.", default=7)


@dataclass(frozen=True)
class Imports:
    max_rows: int = doc("An import file with more data rows is refused (500,000 clients fit twice over).", default=1_000_000)
    max_line_bytes: int = doc("An import row longer than this is refused: a CSV line (line breaks inside quotes included) or a row of an XLSX sheet's XML.", default=1_048_576)
    max_xlsx_unpacked_bytes: int = doc("An XLSX that unpacks to more is refused before it is read (500,000 clients x 80 characteristics unpack to about 2 GB; the parts read whole, such as shared strings, may take 1/32 of it).", default=2_147_483_648)


@dataclass(frozen=True)
class Offers:
    profile: list[str] = doc("Characteristics whose values are a client's profile tags for matching items (text split at commas, an enum's value and its labels, a yes/no's name when yes); keys not in the catalog are left out.", default_factory=lambda: ["interests", "drivers", "talents", "desired_sector", "transport", "driving_licence"])
    tags: dict = doc('Profile tags defined by a segment expression, e.g. { fulltime = "desired_hours >= 32" }.', default_factory=dict)
    items: int = doc("Items in a digest unless --items says otherwise.", default=3)
    explore_share: float = doc("Share of a digest's slots kept for trying other eligible items (exploration), 0 to 1.", default=0.2)
    random_share: float = doc("Share of digests ranked at random, to measure what the ranking adds (caseload report offers), 0 to 1.", default=0.1)
    repeat_after_days: int = doc("An item shown to a client and not clicked is not offered to them again for this many days.", default=14)
    learn_days: int = doc("The ranking learns from the clicks and the items shown in this many past days.", default=90)


@dataclass(frozen=True)
class Config:
    organisation: Organisation = dataclasses.field(default_factory=Organisation)
    database: Database = dataclasses.field(default_factory=Database)
    reports: Reports = dataclasses.field(default_factory=Reports)
    privacy: Privacy = dataclasses.field(default_factory=Privacy)
    catalog: CatalogSection = dataclasses.field(default_factory=CatalogSection)
    email: Email = dataclasses.field(default_factory=Email)
    sms: Sms = dataclasses.field(default_factory=Sms)
    policy: Policy = dataclasses.field(default_factory=Policy)
    daemon: Daemon = dataclasses.field(default_factory=Daemon)
    imap: Imap = dataclasses.field(default_factory=Imap)
    retention: Retention = dataclasses.field(default_factory=Retention)
    imports: Imports = dataclasses.field(default_factory=Imports)
    offers: Offers = dataclasses.field(default_factory=Offers)
    characteristic: list[dict] = dataclasses.field(default_factory=list)
    path: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.organisation.timezone)

    @property
    def message_language(self) -> str:
        """The language a message falls back to when the client has none."""
        return self.organisation.language or "nl"


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _check(value, tp, where: str, path: Path | str):
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise BadInput(t("config.wrong_type", key=where, file=path, expected="list"))
        for i, v in enumerate(value):
            _check(v, item, f"{where}[{i}]", path)
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is dict:
        if not isinstance(value, dict):
            raise BadInput(t("config.wrong_type", key=where, file=path, expected="table"))
        return value
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise BadInput(t("config.wrong_type", key=where, file=path, expected=_type_name(tp)))
    return value


def _build(cls, table: dict, where: str, path: Path | str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not (cls is Config and f.name == "path")}
    kwargs = {}
    for key, value in table.items():
        full = f"{where}.{key}" if where else key
        if key not in fields:
            raise BadInput(t("config.unknown_key", key=full, file=path))
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise BadInput(t("config.wrong_type", key=full, file=path, expected="table"))
            kwargs[key] = _build(tp, value, full, path)
        else:
            kwargs[key] = _check(value, tp, full, path)
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise BadInput(t("config.missing_key", key=f"{where}.{name}" if where else name, file=path))
    return cls(**kwargs)


def read_toml(path: Path | str) -> dict:
    """A TOML file as a dict; a syntax error or an unreadable file is one BadInput naming the file."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(t("config.syntax", file=path, error=str(e))) from None
    except OSError as e:
        raise BadInput(t("config.unreadable", file=path, error=e.strerror)) from None


def load_config(path: Path | str | None) -> Config:
    """Read and validate config.toml; no file at all means every default."""
    if path is None or not Path(path).exists():
        if path is not None and Path(path).name != "config.toml":
            raise BadInput(t("config.not_found", file=path))
        return Config()
    path = Path(path)
    raw = read_toml(path)
    warn_if_exposed(path)
    cfg = _build(Config, raw, "", path)
    cfg = dataclasses.replace(cfg, path=path)
    _validate_values(cfg, path)
    return _resolve_ca_files(cfg, path)


def _resolve_ca_files(cfg: Config, path: Path) -> Config:
    """email.ca_file and imap.ca_file as absolute paths (relative ones are relative to config.toml);
    a file that is not there is one BadInput naming the key."""
    for section in ("email", "imap"):
        value = getattr(cfg, section).ca_file
        if not value:
            continue
        full = (path.parent / value).resolve() if not Path(value).is_absolute() else Path(value)
        if not full.is_file():
            raise BadInput(t("mail.ca_file_missing", key=f"{section}.ca_file", file=path, value=value))
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), ca_file=str(full))})
    return cfg


def warn_if_exposed(path: Path) -> bool:
    """Warn (on the log) when others may read config.toml or anyone but the owner may change it.
    True when it warned."""
    import logging
    import stat

    mode = path.stat().st_mode
    if mode & (stat.S_IRWXO | stat.S_IWGRP):
        logging.getLogger("caseload").warning(t("secrets.config_readable", file=path, mode=oct(mode & 0o777)))
        return True
    return False


def _validate_values(cfg: Config, path: Path) -> None:
    try:
        ZoneInfo(cfg.organisation.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(t("config.bad_value", key="organisation.timezone", file=path,
                         value=cfg.organisation.timezone)) from None
    checks = [
        ("organisation.language", cfg.organisation.language, ("", "nl", "en")),
        ("email.security", cfg.email.security, ("starttls", "ssl", "none")),
        ("imap.security", cfg.imap.security, ("ssl", "starttls", "none")),
    ]
    for key, value, allowed in checks:
        if value not in allowed:
            raise BadInput(t("config.not_allowed", key=key, file=path, value=value, allowed=", ".join(allowed)))
    if cfg.reports.min_cell_size < 1:
        raise BadInput(t("config.bad_value", key="reports.min_cell_size", file=path, value=cfg.reports.min_cell_size))
    for key in ("max_rows", "max_line_bytes", "max_xlsx_unpacked_bytes"):
        if getattr(cfg.imports, key) < 1:
            raise BadInput(t("config.bad_value", key=f"imports.{key}", file=path, value=getattr(cfg.imports, key)))
    for key, value in (("privacy.epsilon", cfg.privacy.epsilon), ("privacy.budget", cfg.privacy.budget),
                       ("privacy.period_days", cfg.privacy.period_days)):
        if not value > 0 or value != value or value == float("inf"):
            raise BadInput(t("config.bad_value", key=key, file=path, value=value))
    for key in ("explore_share", "random_share"):
        value = getattr(cfg.offers, key)
        if not 0 <= value <= 1:
            raise BadInput(t("config.bad_value", key=f"offers.{key}", file=path, value=value))
    for key in ("items", "repeat_after_days", "learn_days"):
        if getattr(cfg.offers, key) < 1:
            raise BadInput(t("config.bad_value", key=f"offers.{key}", file=path, value=getattr(cfg.offers, key)))
    for tag, expression in cfg.offers.tags.items():
        if not isinstance(expression, str):
            raise BadInput(t("config.wrong_type", key=f"offers.tags.{tag}", file=path, expected="str"))
    from .channels import sms

    provider = sms.provider_class(cfg.sms.provider)
    if provider is None:
        raise BadInput(t("config.not_allowed", key="sms.provider", file=path, value=cfg.sms.provider,
                         allowed=", ".join(sms.names())))
    problem = provider.sender_problem(cfg.sms.sender)
    if problem:
        raise BadInput(t(f"sms.{problem}", file=path, value=cfg.sms.sender, provider=cfg.sms.provider))


def describe() -> list[tuple[str, str, object]]:
    """(key, doc, default) for every config key, for docs and the generated config.toml."""
    out = []
    for f in dataclasses.fields(Config):
        if f.name in ("path", "characteristic"):
            continue
        section = f.default_factory()
        for sf in dataclasses.fields(section):
            out.append((f"{f.name}.{sf.name}", sf.metadata.get("doc", ""), getattr(section, sf.name)))
    return out


def example_toml() -> str:
    """The commented config.toml that `caseload init` writes and the repository ships."""
    lines = [
        "# caseload configuration. Every key is optional; shown are the defaults.",
        "# Secrets never go here: the SMTP password comes from CASELOAD_SMTP_PASSWORD, the SMS",
        "# token from CASELOAD_SMS_TOKEN, the webhook secret from CASELOAD_WEBHOOK_TOKEN (or keyring).",
    ]
    section = None
    for key, text, default in describe():
        sec, name = key.split(".", 1)
        if sec != section:
            lines += ["", f"[{sec}]"]
            section = sec
        lines.append(f"# {text}")
        lines.append(f"{name} = {_toml_value(default)}")
    lines += [
        "",
        "# Characteristics of your own, added to the catalog file above:",
        "# [[characteristic]]",
        '# key = "bike_repair_course"',
        '# type = "bool"',
        '# label = { en = "Bike repair course", nl = "Cursus fietsenmaker" }',
        '# category = "skills"',
        "# special = false",
        '# purpose = "Match clients to the bike repair work project"',
        "# max_age_days = 365",
        '# question = { en = "Did you finish the bike repair course? Reply yes or no", nl = "Heb je de cursus fietsenmaker afgerond? Antwoord ja of nee" }',
    ]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
