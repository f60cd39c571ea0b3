"""Reads a MicroPython freeze manifest the way MicroPython's manifest tool (tools/manifestfile.py)
does, without a MicroPython checkout: the manifest runs as Python with metadata(), include(),
require(), add_library(), package() and module() in scope; paths are relative to the manifest
being read; a directory means its manifest.py; a file is read once; metadata() may be called
once per tree (require() opens a tree of its own, include() does not); every named file must
exist. An include of a path that still holds a $(VAR) the caller did not give (the port's own
manifest) is recorded in `skipped`, not read.
"""
import os


class ManifestError(Exception):
    pass


class _Tree:
    def __init__(self):
        self.meta = None


class Manifest:
    def __init__(self, path_vars=None):
        self.vars = dict(path_vars or {})
        self.files = []          # (target path on the device, source path, metadata of its tree)
        self.trees = []          # every tree's metadata, in the order they were opened
        self.skipped = []
        self._stack = [_Tree()]
        self._visited = set()
        self._libs = {}
        self._cwd = os.getcwd()

    # --- path handling -----------------------------------------------------------------

    def _path(self, p):
        for k, v in self.vars.items():
            p = p.replace("$(" + k + ")", v)
        return os.path.normpath(os.path.join(self._cwd, p))

    def _add(self, src, target):
        if not os.path.isfile(src):
            raise ManifestError("cannot stat " + src)
        self.files.append((target, src, self._stack[-1].meta))

    # --- the manifest API --------------------------------------------------------------

    def metadata(self, **kw):
        tree = self._stack[-1]
        if kw:
            if tree.meta is not None:
                raise ManifestError("Duplicate call to metadata().")
            tree.meta = dict(kw)
            self.trees.append(tree.meta)
        return tree.meta

    def include(self, path, _require=False, **kw):
        if not isinstance(path, str):
            for p in path:
                self.include(p, **kw)
            return
        if "$(" in self._path(path):
            self.skipped.append(path)
            return
        full = self._path(path)
        if os.path.isdir(full):
            full = os.path.join(full, "manifest.py")
        if full in self._visited:
            return
        self._visited.add(full)
        if not os.path.isfile(full):
            raise ManifestError("cannot open manifest " + full)
        if _require:
            self._stack.append(_Tree())
        prev = self._cwd
        self._cwd = os.path.dirname(full)
        try:
            with open(full) as f:
                code = compile(f.read(), full, "exec")
            exec(code, self._globals())
        except ManifestError as e:
            raise ManifestError("Error in manifest file: %s: %s" % (full, e))
        finally:
            self._cwd = prev
        if _require:
            self._stack.pop()

    def add_library(self, name, path, prepend=False):
        self._libs[name] = self._path(path)

    def require(self, name, version=None, pypi=None, library=None, **kw):
        roots = [self._libs[library]] if library is not None else list(self._libs.values())
        if library is not None and library not in self._libs:
            raise ManifestError("Unknown library %r for require(%r)." % (library, name))
        for root in roots:
            for d, _, names in os.walk(root):
                if os.path.basename(d) == name and "manifest.py" in names:
                    self.include(d, _require=True, **kw)
                    return
        raise ManifestError("Package %r not found in any known library." % name)

    def package(self, package_path, files=None, base_path=".", opt=None):
        base = self._path(base_path)
        if files is not None:
            for f in files:
                rel = os.path.join(package_path, f)
                self._add(os.path.join(base, rel), rel)
            return
        top = os.path.join(base, package_path)
        if not os.path.isdir(top):
            raise ManifestError("no package directory " + top)
        for d, _, names in os.walk(top):
            for n in sorted(names):
                if n.endswith(".py"):
                    src = os.path.join(d, n)
                    self._add(src, os.path.relpath(src, base))

    def module(self, module_path, base_path=".", opt=None):
        if not module_path.endswith(".py"):
            raise ManifestError("module must be .py file")
        self._add(os.path.join(self._path(base_path), module_path), module_path)

    def _globals(self):
        return {"metadata": self.metadata, "include": self.include, "require": self.require,
                "add_library": self.add_library, "package": self.package,
                "module": self.module, "options": None}


def read(path, path_vars=None):
    m = Manifest(path_vars)
    m.include(os.path.abspath(path))
    return m
