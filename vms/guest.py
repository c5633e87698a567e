"""Run inside a Vagrant VM by the provisioning scripts: the drill's mail configuration.

The same postfix and dovecot settings as the namespace lab
(:mod:`pacemail.drillmail`: user ``drill`` at ``lab.test``, queue and sdbox
mailboxes on the mail volume, postfix hands mail to dovecot over LMTP), with
the VMs' private network allowed to relay.
Usage: ``python -m pacemail.vms.guest mail-config --network 198.18.1.0/24``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pacemail import drillmail
from pacemail.proc import run


def postfix_settings(network: str) -> dict[str, str]:
    return {**drillmail.POSTFIX_MAIN, "mynetworks": f"127.0.0.0/8 {network}"}


def mail_config(network: str, postfix_dir: str = "/etc/postfix",
                dovecot_conf: str = "/etc/dovecot/dovecot.conf") -> None:
    run(["postconf", "-c", postfix_dir, "-e"] +
        [f"{k}={v}" for k, v in postfix_settings(network).items()], timeout=60)
    run(["postconf", "-c", postfix_dir, "-F", "*/*/chroot=n"], timeout=60)
    Path(dovecot_conf).write_text(drillmail.DOVECOT_CONF)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pacemail.vms.guest")
    sub = parser.add_subparsers(dest="command", required=True)
    mail = sub.add_parser("mail-config", help="postfix main.cf and dovecot.conf for the drills")
    mail.add_argument("--network", required=True, help="the private network, CIDR")
    args = parser.parse_args(argv)
    mail_config(args.network)


if __name__ == "__main__":
    main()
