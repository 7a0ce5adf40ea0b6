"""The house rule: each floor of the package imports only floors below it (or its own).

The floors, lowest first, are listed in :data:`LAYERS`; every ``import`` and ``from ... import``
of every module (function-local ones included) is read with :mod:`ast`. The package's own
``__init__.py`` is the public façade (names loaded lazily on first use) and sits outside the
rule, like ``cli.py`` on top.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "landform"

#: Floors, lowest first. A module of floor i may import floors 0..i only.
LAYERS: list[set[str]] = [
    {"errors", "files", "flat", "losses", "landscape", "behaviour", "progress", "runtime", "loops"},
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
