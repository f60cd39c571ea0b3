# "One grep finds one definition of each rule": each shared rule is defined in exactly one file
# of lib/, firmware/ and host/, and usmtp stays standalone (it never imports the contract).
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RULES = {
    "def address_problem(": "lib/usmtp/checks.py",
    "def display_name_problem(": "lib/usmtp/checks.py",
    "def token_problem(": "lib/usmtp/checks.py",
    "MODES = (": "lib/usmtp/checks.py",
    "SEVERITIES = (": "lib/outpost_contract/rules.py",
    "def backoff(": "lib/outpost_contract/rules.py",
    "def iso(": "lib/usmtp/clock.py",
    "def civil(": "lib/usmtp/clock.py",
    "946684800": "lib/usmtp/clock.py",
    "SET_AFTER = ": "lib/usmtp/clock.py",
    "def outcome(": "lib/usmtp/errors.py",
    "def closest(": "lib/outpost_contract/settings.py",
    "strftime(": None,
}


def sources():
    for top in ("lib", "firmware", "host"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(folder, f)
                    yield os.path.relpath(path, ROOT), open(path, encoding="utf-8").read()


def test_each_rule_defined_once():
    found = {k: [] for k in RULES}
    for rel, text in sources():
        for k in RULES:
            # a definition at module level (a method of the same name is something else)
            if ("\n" + k if k.startswith("def ") else k) in text:
                found[k].append(rel)
    for k, where in RULES.items():
        assert found[k] == ([where] if where else []), (k, found[k])


def test_usmtp_needs_no_contract():
    for rel, text in sources():
        if rel.startswith("lib/usmtp/") or rel == "lib/umail.py":
            assert "import outpost_contract" not in text and "from outpost_contract" not in text, rel
