# The texts of the errors usmtp raises live in usmtp/texts.py, out of the modules a board loads
# to send (usmtp.errors.errtext). Error paths run rarely: every key a module
# names must have its text, with as many placeholders as the call gives arguments.
import ast
import os

from usmtp import errors
from usmtp.texts import TEXTS

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "lib", "usmtp")


def _calls():
    for name in sorted(os.listdir(LIB)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(LIB, name)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "errtext":
                yield name, node


def test_every_key_has_its_text_with_matching_placeholders():
    seen = set()
    for name, call in _calls():
        key = call.args[0].value
        assert key in TEXTS, (name, call.lineno, key)
        n = TEXTS[key].replace("%%", "").count("%")
        assert n == len(call.args) - 1, (name, call.lineno, key, TEXTS[key])
        seen.add(key)
    assert len(seen) > 40
    assert seen == set(TEXTS), set(TEXTS) - seen     # no text left without a caller


def test_errtext_formats_its_arguments():
    assert errors.errtext("busy") == "an operation is already running"
    assert errors.errtext("ctimeout", "mx.example.org", 587) == \
        "timed out connecting to mx.example.org:587"
    assert errors.errtext("malformed", "x\u00e9") == "malformed reply line 'x\u00e9'"
