# Every error that usmtp raises by phrase number (usmtp.errors.err(Class, n, *args),
# moreerrors.amiss(Class, n, state, *args)) names a phrase that exists and takes exactly the
# arguments given: a wrong number would only show when the error is raised, as a TypeError in
# place of the error. Read from the sources (ast), so every call site is held, rare or not.
import ast
import os

from usmtp.phrases import PHRASES

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "lib", "usmtp")


def calls():
    for name in sorted(os.listdir(LIB)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(LIB, name)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            f = node.func
            fname = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            n = node.args[1]
            if fname in ("err", "amiss") and isinstance(n, ast.Constant) and \
                    isinstance(n.value, int) and not any(isinstance(a, ast.Starred)
                                                         for a in node.args):
                yield name, node.lineno, fname, n.value, len(node.args) - 2


def test_each_phrase_number_takes_the_arguments_given():
    seen = 0
    for name, line, fname, n, nargs in calls():
        where = "%s:%d" % (name, line)
        assert 26 <= n < 40 or n >= 47, (where, n)     # not checks.py's, nor a state name
        text = PHRASES[n]
        if fname == "amiss":
            assert "{}" in text, where
            nargs -= 1      # the state, shown where {} is
            text = text.format("ready")
        text % tuple(["x" if c == "s" or c == "r" else 1
                      for c in [p[0] for p in text.split("%")[1:]]])   # well formed
        assert text.count("%") == nargs, (where, text, nargs)
        seen += 1
    assert seen >= 20, seen


def test_the_state_names_follow_the_core_states():
    from usmtp import core
    # core.py's states are 0..6 (closed .. data); the phrases name them from 40 on
    assert PHRASES[40:47] == ("closed", "greeting", "start", "ready", "tls", "mail", "data")
    assert core.T[0] == 1 and PHRASES[40 + core.T[3]] == "start"
