"""Sphinx configuration of landform's documentation site (``make docs``).

The API reference is written here, on every build, from each package's ``__all__`` (or, for a
module without one, the public names it defines), so that it lists every public name and cannot
fall behind the code; each module gets one page with a table of its names and each name's
docstring below it. The
tutorials are text notebooks (jupytext MyST markdown) that myst-nb executes and caches.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# This checkout's code, after any PYTHONPATH entries and before an installed landform.
_explicit = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
_position = max((sys.path.index(p) for p in _explicit if p in sys.path), default=0) + 1
sys.path[_position:_position] = [str(ROOT / "src"), str(ROOT)]  # the tutorials import examples.my_model
# The notebooks' kernels (and the Dask workers of the sweep tutorial) import the same code.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + [str(ROOT / "src"), str(ROOT)]
)
os.environ.setdefault("LANDFORM_PROGRESS", "0")  # no progress bars in executed notebooks
shared_data = ROOT.parent / "shared" / "datasets"
if "LANDFORM_DATA" not in os.environ and shared_data.is_dir():
    os.environ["LANDFORM_DATA"] = str(shared_data)

import landform  # noqa: E402

project = "landform"
author = "the landform developers"
copyright = "2025–2026, the landform developers"
release = version = landform.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}

# Docstrings: plain reStructuredText prose with Sphinx roles; sections follow the Google convention
# ("Args:", "Returns:", "Raises:", "Attributes:"), never numpydoc's underlined "Parameters", so
# napoleon reads Google sections only (see the README's Contributing section).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" as fields: NamedTuple fields are not described twice
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_class_signature = "separated"
autodoc_preserve_defaults = True
autosummary_generate = False  # one page per module (below), no page per name
autosummary_imported_members = True
add_module_names = False
python_display_short_literal_types = True

# Notebooks: executed at build time, cached between builds (under docs/_build), any error fails
# the build.
nb_execution_mode = "cache"
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = "landform"
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_static_path: list[str] = []

# ---------------------------------------------------------------------------------------------
# The API reference, generated from the packages' public names.

#: Pages of the reference, one per module, in reading order: (module, heading). Packages export their public
#: names in ``__all__``; a module without one exports the names it defines without a leading
#: underscore.
API_PAGES = [
    ("landform", "landform: the top-level names"),
    ("landform.landscape", "landform.landscape: batched evaluation of a flat parameter vector"),
    ("landform.directions", "landform.directions: random directions and which leaves are perturbed"),
    ("landform.plugins", "landform.plugins: user code by import path, and its fingerprints"),
    ("landform.behaviour", "landform.behaviour: behavioural landscapes (KL from θ*'s predictions)"),
    ("landform.flat", "landform.flat: flat parameter vectors"),
    ("landform.losses", "landform.losses: per-example losses"),
    ("landform.errors", "landform.errors: typed errors"),
    ("landform.files", "landform.files: atomic files and input hashes"),
    ("landform.loops", "landform.loops: choosing batched or looped evaluation"),
    ("landform.progress", "landform.progress: progress reporters"),
    ("landform.runtime", "landform.runtime: the compilation cache"),
    ("landform.data", "landform.data: datasets and manipulations"),
    ("landform.models", "landform.models: the model zoo and adapters"),
    ("landform.models.torch", "landform.models.torch: PyTorch modules as landscapes and JAX twins"),
    ("landform.models.hf", "landform.models.hf: Hugging Face causal language models"),
    ("landform.train", "landform.train: training, SAM, ensembles, checkpoints"),
    ("landform.train.engine", "landform.train.engine: the training engine under both loops"),
    ("landform.store", "landform.store: run folders, the stage cache, reports"),
    ("landform.volume", "landform.volume: directions, exit radii, volumes, cutoffs"),
    ("landform.curvature", "landform.curvature: spectra, traces, sharpness, the LLC"),
    ("landform.paths", "landform.paths: Bézier curves and curve training"),
    ("landform.subspace", "landform.subspace: subspaces, moving frames, the tunnel map"),
    ("landform.bayes", "landform.bayes: posteriors, samplers, predictive metrics"),
    ("landform.bayes.spaces", "landform.bayes.spaces: the posterior spaces, one record each"),
    ("landform.views", "landform.views: planes, slices, figures and videos"),
    ("landform.studies", "landform.studies: the Study contract and config files"),
    ("landform.studies.analysis", "landform.studies.analysis: analyses across runs"),
    ("landform.studies.volume", "landform.studies.volume: the minima-volume study, its runs and views"),
    ("landform.studies.volume.layout", "landform.studies.volume.layout: the files of a volume run folder"),
    ("landform.run.plan", "landform.run.plan: sweep files and run plans"),
    ("landform.run.sweep", "landform.run.sweep: running and collecting sweeps"),
    ("landform.run.attempts", "landform.run.attempts: one attempt at a run"),
    ("landform.run.executors", "landform.run.executors: local and Dask executors"),
    ("landform.run.threads", "landform.run.threads: worker threads and cores"),
    ("landform.run.tracking", "landform.run.tracking: W&B and MLflow sinks"),
    ("landform.run.overview", "landform.run.overview: overviews of run and sweep folders"),
]


def public_names(module_name: str) -> list[str]:
    """The module's ``__all__``, else the names it defines that do not start with an underscore."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is not None:
        return [name for name in names if not name.startswith("_")]
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and (getattr(value, "__module__", module_name) == module_name or not callable(value))
        and not (hasattr(value, "__module__") and value.__module__ in ("typing", "__future__"))
        and name not in {"annotations"}
    ]


def top_level_page() -> str:
    """``landform``'s names are loaded lazily from the floors below; each links to its home."""
    lines = [
        "landform",
        "========",
        "",
        ".. automodule:: landform",
        "",
        ".. currentmodule:: landform",
        "",
        ".. autofunction:: landscape_from",
        "",
        "The other top-level names are the same objects as these (each is loaded on first use):",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - ``landform.`` name",
        "     - documented as",
    ]
    for name, target in sorted(landform._LAZY.items()):
        module, attribute = target if isinstance(target, tuple) else (target, name)
        lines += [f"   * - ``{name}``", f"     - :obj:`{module}.{attribute}`"]
    return "\n".join(lines) + "\n"


def home(module_name: str, name: str) -> str | None:
    """The other page that documents ``module_name.name`` when it is re-exported from a package
    outside ``module_name`` (``landform.bayes`` re-exports the tunnel map of ``landform.subspace``),
    else None: an object is described once, on the page of the package that defines it."""
    value = getattr(importlib.import_module(module_name), name)
    defined_in = getattr(value, "__module__", None) or ""
    if not callable(value) or defined_in == module_name:
        return None
    # the most specific page whose package defines it (a subpackage with its own page, e.g.
    # landform.bayes.spaces under landform.bayes, documents its names itself)
    for other, _ in sorted(API_PAGES, key=lambda page: -len(page[0])):
        if defined_in == other or defined_in.startswith(other + "."):
            if other == module_name:
                return None
            if name in public_names(other):
                return f"{other}.{name}"
    return None


def directive(module_name: str, name: str) -> list[str]:
    """The autodoc directive that renders ``module_name.name``."""
    value = getattr(importlib.import_module(module_name), name)
    target = home(module_name, name)
    if target is not None:
        return [f".. rubric:: {name}", "", f"The same object as :obj:`{target}`.", ""]
    if inspect.isclass(value):
        kind = "autoexception" if issubclass(value, BaseException) else "autoclass"
        return [f".. {kind}:: {name}", "   :members:", "   :show-inheritance:", ""]
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return [f".. autofunction:: {name}", ""]
    short = len(repr(value)) <= 120  # names of options, small numbers: worth showing
    return [f".. autodata:: {name}", *([] if short else ["   :no-value:"]), ""]


def module_page(module_name: str, heading: str) -> str:
    """The module's docstring, a table of its public names, then each name's documentation."""
    title = heading.split(":")[0]
    names = public_names(module_name)
    lines = [title, "=" * len(title), "", f".. automodule:: {module_name}", "", f".. currentmodule:: {module_name}", ""]
    if names:
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names]
        lines += ["", "----", ""]
        for name in names:
            lines += directive(module_name, name)
    return "\n".join(lines) + "\n"


def write_api_pages() -> None:
    """Write ``docs/api/`` (git ignores it): an index and one page per module of API_PAGES."""
    folder = DOCS / "api"
    folder.mkdir(exist_ok=True)
    index = [
        "# API reference",
        "",
        "Every public name of every package, generated from the docstrings: a package's public",
        "names are those in its `__all__`. Each page opens with the module's own docstring.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
    ]
    for module_name, heading in API_PAGES:
        text = top_level_page() if module_name == "landform" else module_page(module_name, heading)
        path = folder / f"{module_name}.rst"
        if not path.exists() or path.read_text() != text:  # unchanged pages keep their build
            path.write_text(text)
        index.append(f"{heading} <{module_name}>")
    index.append("```")
    text = "\n".join(index) + "\n"
    path = folder / "index.md"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


write_api_pages()


# ---------------------------------------------------------------------------------------------
# Docstring fixes at render time (no change to the objects).


def _attribute_comment(fullname: str) -> list[str] | None:
    """The ``#:`` comment of a constant re-exported by a package, from the submodule that defines it."""
    from sphinx.pycode import ModuleAnalyzer

    package, _, name = fullname.rpartition(".")
    module = importlib.import_module(package)
    candidates = [package]
    if hasattr(module, "__path__"):
        import pkgutil

        candidates += [f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)]
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module without source has no comments
            continue
        if ("", name) in docs:
            return list(docs[("", name)])
    return None


def process_docstring(app, what, name, obj, options, lines):
    """Constants: their ``#:`` comment, never the docstring of their type (``tuple``, ``dict``)."""
    if what not in ("data", "attribute"):
        return
    type_doc = inspect.getdoc(type(obj)) or ""
    if lines and "\n".join(lines).strip() == type_doc.strip():
        lines[:] = []
    if not lines and what == "data":
        comment = _attribute_comment(name)
        if comment:
            lines[:] = comment


def skip_member(app, what, name, obj, skip, options):
    """NamedTuple fields are described in their class's Attributes section: no "Alias for field"."""
    doc = getattr(obj, "__doc__", None) or ""
    if what == "class" and doc.startswith("Alias for field number"):
        return True
    return None


class EmptyTutorialGlob(logging.Filter):
    """The tutorials' toctree lists the tutorials in reading order and then globs for the rest, a
    glob that matches nothing until a tutorial beyond the listed ones exists. Sphinx warns about
    an empty glob with a subtype but no type, which ``suppress_warnings`` cannot name, so this
    one message is dropped here (only for the tutorials' index)."""

    def filter(self, record: logging.LogRecord) -> bool:
        location = getattr(record, "location", None)  # the toctree node; its "parent" is its document
        parent = location.get("parent") if hasattr(location, "get") else None
        return not ("didn't match any documents" in str(record.msg) and parent == "tutorials/index")


def setup(app):
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(EmptyTutorialGlob())
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("autodoc-skip-member", skip_member)
