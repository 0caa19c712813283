"""`python -m caseload.daemon`: the daemon process itself. `caseload daemon` checks who runs it
and then replaces itself with this (same pid), so the long-running process holds only the
modules it needs: the CLI imports every command, the reports among them with numpy and scipy,
and sqlite-utils imports pandas and numpy whenever they are installed. sqlite-utils goes without
both, which keeps the daemon small while it idles (bench/bench_daemon.py); numpy is loaded only
when a digest round is planned (caseload.offers, bench/bench_offers.py)."""

import sys

sys.modules.setdefault("pandas", None)  # an import of it now fails
if "sqlite_utils" not in sys.modules and "numpy" not in sys.modules:
    sys.modules["numpy"] = None  # sqlite-utils goes without it...
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]  # ...and caseload.offers may import it when a digest round runs

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402


def main(argv=None) -> int:
    from .. import i18n
    from ..config import load_config
    from ..errors import CaseloadError
    from .loop import run_daemon

    p = argparse.ArgumentParser(prog="caseload daemon")
    p.add_argument("--db", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--tick", type=float)
    p.add_argument("--listen")
    p.add_argument("--no-webhooks", action="store_true")
    p.add_argument("--lang")
    args = p.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CASELOAD_LOG", "WARNING").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        i18n.set_language(args.lang or config.organisation.language or i18n.locale_language() or "nl")
        run_daemon(config, args.db, tick=args.tick, listen=args.listen, serve_webhooks=not args.no_webhooks)
    except CaseloadError as e:
        print(i18n.t("cli.error", message=e.message), file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
