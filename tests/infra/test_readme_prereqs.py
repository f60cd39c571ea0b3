"""README's test prerequisites are the system packages .ci/run installs: a person who follows
the README gets what CI has, whatever .ci/run gains."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ci_packages():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        text = f.read()
    found = []
    for group in re.findall(r"missing\+=\(([^)]*)\)", text):
        found += group.split()
    return found


def readme_packages():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    lines = re.findall(r"^sudo apt-get install (.+)$", text, re.M)
    assert lines, "README.md names no `sudo apt-get install ...` line for the tests"
    return lines[0].split()


def test_readme_installs_what_ci_installs():
    ci = ci_packages()
    assert "mosquitto-clients" in ci and "python3-venv" in ci
    assert sorted(set(readme_packages())) == sorted(set(ci)), (readme_packages(), ci)
