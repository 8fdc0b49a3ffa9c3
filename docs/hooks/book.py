"""mkdocs hooks of the jaxdl book (mkdocs.yml: ``hooks``).

The chapters are the notebooks in ``notebooks/`` (jupytext percent files). Each build
executes them as Jupyter does (``chapters.py``: a ``python3`` kernel started in
``notebooks/``, every cell within a time limit; an error fails the build, naming the
chapter and the cell; executed notebooks are cached in ``.cache/book/`` by content) and
hands the executed notebooks to mkdocs-jupyter, which renders them with their outputs and
figures. Nothing executed is committed (``*.ipynb`` and ``.cache/`` are ignored).
``JAXDL_BOOK_EXECUTE=0`` renders the chapters without outputs (a quick look at the prose).

Links from a page to a repository file outside ``docs/`` (``../experiments/iris.py``,
``../benchmarks/results/cpu-2core.md``) work on GitHub as written; in the book they
point at a page that shows that file (``source/...``), and links to a notebook point at
its chapter.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

import jupytext
import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chapters  # docs/hooks/chapters.py: the executor, shared with the notebook test

log = logging.getLogger("mkdocs.hooks.book")
ROOT = chapters.ROOT
REPO_LINK = re.compile(r"\]\(\.\./([^)#\s]+)(#[^)\s]*)?\)")


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns the .ipynb into pages
def on_files(files, config):
    run = os.environ.get("JAXDL_BOOK_EXECUTE", "1") != "0"
    pages = chapters.CACHE / ("executed" if run else "unexecuted")  # what mkdocs-jupyter renders
    (pages / "chapters").mkdir(parents=True, exist_ok=True)
    for notebook in chapters.chapters():
        if run:
            try:
                nb, seconds = chapters.execute(notebook)
            except chapters.ChapterError as e:
                raise PluginError(str(e)) from None
            log.info("notebooks/%s: %s", notebook.name, "cached" if seconds is None else f"executed in {seconds:.1f} s")
        else:
            nb = jupytext.read(notebook)
        nbformat.write(nb, pages / "chapters" / f"{notebook.stem}.ipynb")
        files.append(File(f"chapters/{notebook.stem}.ipynb", src_dir=str(pages),
                          dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"]))
    linked = set()
    for page in Path(config["docs_dir"]).glob("*.md"):
        linked.update(m.group(1) for m in REPO_LINK.finditer(page.read_text()))
    for target in sorted(linked):
        path = ROOT / target
        if target.startswith("notebooks/") or not path.is_file():
            continue
        text = path.read_text()
        if path.suffix == ".md":  # a results table: shown as it is, its own links made plain
            body = re.sub(r"\]\((?!https?:)[^)]*\)", "]", text)
        else:
            body = f"```{'python' if path.suffix == '.py' else 'text'}\n{text}\n```\n"
        files.append(File.generated(config, f"source/{target}.md",
                                    content=f"# `{target}`\n\n{body}"))
    return files


def on_page_markdown(markdown, page, config, files):
    if "/" in page.file.src_uri:  # only the top-level pages link out of docs/
        return markdown

    def rewrite(m):
        target, anchor = m.group(1), m.group(2) or ""
        if target.startswith("notebooks/") and target.endswith(".py"):
            return f"](chapters/{Path(target).stem}.ipynb{anchor})"
        if (ROOT / target).is_file():
            return f"](source/{target}.md)"
        raise PluginError(f"{page.file.src_uri} links to ../{target}, which is not a file of the repository")

    return REPO_LINK.sub(rewrite, markdown)
