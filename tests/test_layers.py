"""The house rules: each floor of the package imports only floors below it (or its own); no
module imports itself back through others (no import cycle, inside a folder or across); no
module imports a private name (leading underscore) from another top-level package.

The floors, lowest first, are listed in :data:`LAYERS`; every ``import`` and ``from ... import``
of every module (function-local ones included) is read with :mod:`ast`. The package's own
``__init__.py`` is the public façade (names loaded lazily on first use) and sits outside the
floor and cycle rules, like ``cli.py`` on top. Each check also runs on a small planted package
in which it must find the violation, so that it is known to be able to fail.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "landform"

#: Floors, lowest first. A module of floor i may import floors 0..i only.
LAYERS: list[set[str]] = [
    {
        "errors",
        "files",
        "flat",
        "losses",
        "landscape",
        "behaviour",
        "progress",
        "runtime",
        "loops",
        "directions",
        "plugins",
    },
    {"data"},
    {"models"},
    {"train"},
    {"store"},
    {"volume"},
    {"curvature"},
    {"paths"},
    {"subspace"},
    {"bayes"},
    {"views"},
    {"studies"},
    {"run"},
    {"cli"},
]


def floor_of(module: str) -> int:
    """The floor of ``landform.<part>...`` (its first part below the package)."""
    part = module.split(".")[1]
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"landform.{part} is on no floor; add it to LAYERS in {Path(__file__).name}")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name).is_dir()


def imported(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, module) of every landform module that ``path`` (a module of ``package``) imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "landform":  # ``from landform import x``: a submodule, or a name of the façade
                found += [(node.lineno, f"landform.{alias.name}") for alias in node.names if _is_module(alias.name)]
            else:
                found.append((node.lineno, name))
    return [(line, name) for line, name in found if name.startswith("landform.")]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_every_module_is_on_a_floor():
    parts = {module_name(path).split(".")[1] for path in MODULES}
    known = set().union(*LAYERS)
    assert parts <= known, f"on no floor: {sorted(parts - known)}; add them to LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_floor(path):
    name = module_name(path)
    own = floor_of(name)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    upward = [f"line {line}: {other}" for line, other in imported(path, package) if floor_of(other) > own]
    assert not upward, f"{name} (floor {own}) imports higher floors: {'; '.join(upward)}"


def test_the_reader_finds_every_form_of_import(tmp_path):
    """The check can fail: upward imports in every form are found."""
    module = tmp_path / "fake.py"
    module.write_text(
        "import landform.run.sweep\n"
        "from landform import studies\n"
        "from ..bayes import curve\n"
        "def late():\n"
        "    from landform.store.stages import run_stage\n"
    )
    found = [name for _, name in imported(module, "landform.volume")]
    assert found == ["landform.run.sweep", "landform.studies", "landform.bayes", "landform.store.stages"]
    assert [floor_of(name) > floor_of("landform.volume") for name in found] == [True, True, True, False]


# ============================================================================ import cycles and private names


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package in ``root`` (a ``landform`` folder) by dotted name."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> list[tuple[int, str, str]]:
    """(line, module, imported name or "") of every import of a landform module in ``path``.

    ``from a.b import c`` is an import of the module ``a.b.c`` when that module exists (then the
    name is ""), else of the name ``c`` from ``a.b``; relative imports are resolved against the
    module's package; function-local imports count like the others.
    """
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append(
                    (node.lineno, submodule, "") if submodule in modules else (node.lineno, source, alias.name)
                )
    return [(line, module, item) for line, module, item in found if module.split(".")[0] == "landform"]


def import_cycles(root: Path) -> list[list[str]]:
    """The import cycles among the modules of the package in ``root`` (the façade
    ``landform/__init__.py`` excluded), each as the list of its modules, sorted: the strongly
    connected components of more than one module, and modules that import themselves."""
    modules = module_names(root)
    modules.pop("landform", None)
    graph = {
        name: sorted({module for _, module, _ in imports_of(path, name, modules) if module in modules})
        for name, path in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for name in sorted(graph):
            if name not in index:
                connect(name)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(cycles)


def _top(module: str) -> str:
    """The top-level package (or module) of ``landform.<top>...``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def private_imports(root: Path) -> list[str]:
    """``"module line N: target"`` for every private name (a part with a leading underscore: a
    function, class, constant or module) that a module imports from another top-level package."""
    modules = module_names(root)
    found = []
    for name, path in modules.items():
        for line, module, item in imports_of(path, name, modules):
            target = f"{module}.{item}" if item else module
            if _top(target) != _top(name) and any(_private(part) for part in target.split(".")[1:]):
                found.append(f"{name} line {line}: {target}")
    return found


def test_no_import_cycles():
    cycles = import_cycles(PACKAGE)
    assert not cycles, "import cycles (function-local imports included): " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_no_private_name_is_imported_across_packages():
    found = private_imports(PACKAGE)
    assert not found, "private names imported from another package (make them public): " + "; ".join(found)


def _plant(root: Path, files: dict[str, str]) -> Path:
    """A fake ``landform`` package under ``root`` with the given files (relative paths)."""
    package = root / "landform"
    for relative, text in files.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_the_cycle_check_finds_a_planted_cycle_behind_function_local_imports(tmp_path):
    package = _plant(
        tmp_path,
        {
            "__init__.py": "from landform.models import registry\n",  # the façade: outside the rule
            "models/__init__.py": "from landform.models.registry import build\n",
            "models/registry.py": "from landform.models.factory import make\ndef build():\n    return make()\n",
            "models/factory.py": "def make():\n    from landform.models import registry\n    return registry\n",
            "models/zoo.py": "from landform.models.registry import build\n",
            "run/executors.py": "def start():\n    from .dask_worker import Plugin\n",
            "run/dask_worker.py": "from landform.run.executors import start\n",
            "run/threads.py": "import landform.run.executors\n",
        },
    )
    assert import_cycles(package) == [
        ["landform.models.factory", "landform.models.registry"],
        ["landform.run.dask_worker", "landform.run.executors"],
    ]
    (package / "run" / "dask_worker.py").write_text("from landform.run.threads import limit\n")
    (package / "run" / "threads.py").write_text("import os\n")
    (package / "models" / "factory.py").write_text("def make():\n    return None\n")
    assert import_cycles(package) == []


def test_the_private_name_check_finds_a_planted_cross_package_import(tmp_path):
    package = _plant(
        tmp_path,
        {
            "landscape.py": "_Cost = 1\nCost = 2\n",
            "volume/__init__.py": "",
            "volume/directions.py": "_layout = 1\n",
            "volume/radii.py": "from landform.volume.directions import _layout\n",  # same package: fine
            "curvature/__init__.py": "",
            "curvature/_matfree.py": "x = 1\n",
            "curvature/operator.py": (
                "from landform.landscape import Cost, _Cost\n"
                "from landform.curvature import _matfree\n"
                "def late():\n"
                "    from ..volume.directions import _layout\n"
            ),
            "models/torch.py": "import landform.curvature._matfree\n",
        },
    )
    assert sorted(private_imports(package)) == [
        "landform.curvature.operator line 1: landform.landscape._Cost",
        "landform.curvature.operator line 4: landform.volume.directions._layout",
        "landform.models.torch line 1: landform.curvature._matfree",
    ]
