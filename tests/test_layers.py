"""Imports flow one way: mesh, linalg -> fem -> physics -> learn -> viz -> cases -> cli;
prdp stands alone; the top-level helpers (_io, _timing, _fingerprint, _extras, _catalog) import nothing of
the project and serve every layer. No module imports another layer's private names.

Every module of the package must belong to a layer, every layer must exist, and every
import form counts: `from .. import x`, `from ..x import y`, `from fem_prdp import x`,
`import fem_prdp.x`, and `importlib.import_module("fem_prdp.x")` (or a relative name
with its package).
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "fem_prdp"
LOWER = {"mesh": set(), "linalg": set(), "prdp": set(), "fem": {"mesh", "linalg"}}
LOWER["physics"] = LOWER["fem"] | {"fem"}
LOWER["learn"] = LOWER["physics"] | {"physics", "prdp"}
LOWER["viz"] = LOWER["learn"] | {"learn"}
LOWER["cases"] = LOWER["viz"] | {"viz"}
LOWER["cli"] = LOWER["cases"] | {"cases"}
SHARED = {"_io", "_timing", "_fingerprint", "_extras", "_catalog"}  # top-level helpers: no project imports of their own
ALLOWED = {**LOWER, **{name: set() for name in SHARED}, "__init__": set()}


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _dotted(path: Path) -> list[str]:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    return ["fem_prdp", *(parts[:-1] if parts[-1] == "__init__" else parts)]


def _package(path: Path) -> list[str]:
    dotted = _dotted(path)
    return dotted if path.name == "__init__.py" else dotted[:-1]


def _exists(dotted: list[str]) -> bool:
    base = PKG.parent.joinpath(*dotted)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _resolve_relative(path: Path, level: int, module: str | None) -> list[str]:
    base = _package(path)
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return base + (module.split(".") if module else [])


def _imports(path: Path, source: str | None = None) -> list[tuple[list[str], str | None]]:
    """(target module as dotted parts, imported name or None) for every project import of
    the module at `path` (its text, or `source`)."""
    tree = ast.parse(path.read_text() if source is None else source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve_relative(path, node.level, node.module)
            elif node.module and node.module.split(".")[0] == "fem_prdp":
                target = node.module.split(".")
            else:
                continue
            for alias in node.names:  # `from pkg import sub` imports the module pkg.sub
                sub = target + [alias.name]
                out.append((sub, None) if _exists(sub) else (target, alias.name))
        elif isinstance(node, ast.Import):
            out += [(a.name.split("."), None) for a in node.names if a.name.split(".")[0] == "fem_prdp"]
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            name = first.value
            if name.startswith("."):
                level = len(name) - len(name.lstrip("."))
                out.append((_resolve_relative(path, level, name.lstrip(".") or None), None))
            elif name.split(".")[0] == "fem_prdp":
                out.append((name.split("."), None))
    return out


def _is_import_module(func) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__"))


def _layer(dotted: list[str]) -> str:
    return dotted[1] if len(dotted) > 1 else "__init__"


def test_every_module_belongs_to_a_layer_and_every_layer_exists():
    unassigned = [str(p.relative_to(PKG)) for p in _modules() if _layer(_dotted(p)) not in ALLOWED]
    assert not unassigned, f"modules outside every layer (add them to ALLOWED): {unassigned}"
    missing = [name for name in ALLOWED if name != "__init__" and not _exists(["fem_prdp", name])]
    assert not missing, f"layers with no folder or module: {missing}"


def test_layers_import_only_downward():
    violations = []
    for path in _modules():
        layer = _layer(_dotted(path))
        for target, _ in _imports(path):
            other = _layer(target)
            if other != layer and other not in ALLOWED[layer] and other not in SHARED:
                violations.append(f"{path.relative_to(PKG)} imports {'.'.join(target)} ({other})")
    assert not violations, "\n".join(violations)


def test_no_module_imports_another_layers_private_names():
    violations = []
    for path in _modules():
        layer = _layer(_dotted(path))
        for target, name in _imports(path):
            private_module = any(part.startswith("_") and part != "__init__" for part in target[1:])
            shared = _layer(target) in SHARED
            if name is not None and name.startswith("_") and not name.startswith("__"):
                violations.append(f"{path.relative_to(PKG)} imports the private name {name} from {'.'.join(target)}")
            elif private_module and not shared and _layer(target) != layer:
                violations.append(f"{path.relative_to(PKG)} imports the private module {'.'.join(target)}")
    assert not violations, "\n".join(violations)


def test_the_import_parser_sees_every_form():
    """The guard itself: each import form resolves to the module it names."""
    source = (
        "from .. import cases\nfrom fem_prdp import cli\nimport fem_prdp.viz.pyvista_plot\n"
        "from ..physics._common import _METHODS\nimport importlib\nimportlib.import_module('fem_prdp.cases.runner')\n"
        "importlib.import_module('..prdp', __package__)\n"
    )
    found = {".".join(t) + (f":{n}" if n else "") for t, n in _imports(PKG / "learn" / "probe.py", source)}
    assert found == {"fem_prdp.cases", "fem_prdp.cli", "fem_prdp.viz.pyvista_plot", "fem_prdp.physics._common:_METHODS",
                     "fem_prdp.cases.runner", "fem_prdp.prdp"}
