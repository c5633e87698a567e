#!/usr/bin/env bash
# pacemail from the synced tree, without pip: what install.sh's last step does
# (a wheel built and installed from the tree, 40-60 s per VM under TCG), for
# the locally built box, which has every package and pacemail's dependencies
# baked in already. The venv gets a meta path finder mapping pacemail's
# packages to the tree's folders (pyproject's package-dir, as an editable
# install does), the `pacemail` command, and the agents' launchers.
# A `vagrant rsync` then updates the code the cluster runs; run this again
# only when pyproject's packages change. Not under a running cluster: between
# the finder and the launchers an agent run fails (seen: a failed stop, a fencing).
# Settings (environment): PACEMAIL_SRC (default /vagrant).
set -euo pipefail
# shellcheck source=vagrant/provision/lib.sh
. "$(dirname "$0")/lib.sh"

SRC="${PACEMAIL_SRC:-/vagrant}"
VENV=/opt/pacemail/venv
[ -f "$SRC/pyproject.toml" ] || die "no pacemail tree at $SRC (PACEMAIL_SRC)"
[ -x "$VENV/bin/python" ] || die "no venv at $VENV: this box was not built by pacemail (use install.sh)"

"$VENV/bin/python" - "$SRC" <<'PY'
import pathlib, sys, sysconfig, tomllib

src = pathlib.Path(sys.argv[1])
setup = tomllib.loads((src / "pyproject.toml").read_text())["tool"]["setuptools"]
mapping = {name: str(src / folder) for name, folder in setup["package-dir"].items()}
site = pathlib.Path(sysconfig.get_paths()["purelib"])
(site / "_pacemail_tree.py").write_text(f'''"""pacemail from {src} (vagrant/provision/pacemail.sh)."""
import importlib.util
import sys

MAPPING = {mapping!r}


class Finder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        folder = MAPPING.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, folder + "/__init__.py", submodule_search_locations=[folder])


def install():
    if Finder not in sys.meta_path:
        sys.meta_path.append(Finder)
''')
(site / "_pacemail_tree.pth").write_text("import _pacemail_tree; _pacemail_tree.install()\n")
script = pathlib.Path(sys.prefix) / "bin" / "pacemail"
script.write_text(f"#!{sys.prefix}/bin/python\nimport sys\n"
                  "from pacemail.cli import main\nsys.exit(main())\n")
script.chmod(0o755)
PY
ln -sf "$VENV/bin/pacemail" /usr/bin/pacemail
pacemail agents install >/dev/null
# On disk before anything can fence this VM: a node reset seconds after this step once
# came back with these files empty (ext4's delayed allocation).
sync
