"""Compare Whoosh distributions on the readerapp corpus.

Four PyPI distributions install the same top-level ``whoosh`` package, so each
one lives in its own venv under /tmp/wf/<name>.  This file has two modes:

Worker (default): run with one venv's python.  It measures the ``whoosh``
that this interpreter imports and prints ONE JSON line::

    /tmp/wf/whoosh3/bin/python bench/whoosh_forks.py

  1. ``python -W error -B`` import (and a tiny smoke test) from fresh
     bytecode, after deleting that venv's whoosh ``__pycache__`` folders;
  2. a full build of all corpus files with
     ``ix.writer(procs=2, multisegment=True, limitmb=256, compound=False)``;
  3. ~20 fixed queries with one long-lived searcher, 1 warm-up + 5 rounds:
     parse, top 10, ``len(results)``, stored fields and a body highlight per
     hit (HtmlFormatter(tagname="mark"), ContextFragmenter);
  4. adding 100 documents to the built index (add, commit, refresh);
  5. ``searcher.more_like(docnum, "body")``, ``searcher.suggest`` (only when
     the field has spelling enabled) and the index size on disk.

It also runs a one-document phrase probe (two occurrences 46 positions
apart) and records every warning raised while it runs.  Timings come as wall
clock and as CPU time, since another tenant's load on the 2 cores inflates
wall time much more than CPU time.

Driver (``--all``): creates the venvs if absent, reads each distribution's
declared metadata, runs the worker under each venv in turn (never in
parallel: the machine has 2 cores) for ``--repeat`` passes (default 2, the
order reversed on every other pass, each run preceded by a short wait for an
idle machine), checks which distribution can open which one's index, and
writes bench/whoosh_forks-results.md::

    python3 bench/whoosh_forks.py --all

Only the standard library and whoosh are used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html.parser
import importlib.metadata
import importlib.util
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import warnings
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS_DIR = Path("/work/shared/corpus")
VENV_ROOT = Path("/tmp/wf")
RESULTS_MD = HERE / "whoosh_forks-results.md"

# name of the venv -> pip requirement
DISTRIBUTIONS = {
    "whoosh": "whoosh==2.7.4",
    "whoosh-reloaded": "whoosh-reloaded==2.7.5",
    "whoosh-ng": "whoosh-ng==5.4.0",
    "whoosh3": "whoosh3==3.54.0",
}

ROUNDS = 5
WORKER_TIMEOUT_S = 1200

# (label, query text, section filter or None, newest first?)
QUERIES = [
    ("common", "government", None, False),
    ("common", "president", None, False),
    ("two terms", "oil prices", None, False),
    ("two terms", "interest rates", None, False),
    ("three terms", "security council resolution", None, False),
    ("three terms", "central bank interest", None, False),
    ("rare", "photovoltaic", None, False),
    ("rare", "seismologists", None, False),
    ("rare", "penguin", None, False),
    ("rare", "rheumatoid", None, False),
    ("phrase", '"prime minister"', None, False),
    ("phrase", '"oil prices"', None, False),
    ("section", "government", "Politics and conflicts", False),
    ("section", "oil", "Energy", False),
    ("section", "attack", "Armed conflicts and attacks", False),
    ("newest", "election", None, True),
    ("newest", "earthquake", None, True),
    ("section+newest", "ceasefire", "International relations", True),
    ("tag field", "tags:crude", None, False),
    ("misspelled", "goverment", None, False),
]

# Modules imported under -W error from fresh bytecode.
CHECK_MODULES = [
    "whoosh",
    "whoosh.analysis",
    "whoosh.fields",
    "whoosh.index",
    "whoosh.qparser",
    "whoosh.query",
    "whoosh.highlight",
    "whoosh.searching",
    "whoosh.writing",
    "whoosh.multiproc",
    "whoosh.sorting",
    "whoosh.spelling",
    "whoosh.scoring",
    "whoosh.lang.porter",
    "whoosh.codec.whoosh3",
]

# A minimal index/search/highlight run, executed in the -W error subprocess.
SMOKE = """
import datetime, tempfile
from whoosh import fields, highlight, index, qparser
from whoosh.analysis import StemmingAnalyzer
ana = StemmingAnalyzer()
schema = fields.Schema(
    id=fields.ID(stored=True, unique=True),
    body=fields.TEXT(analyzer=ana, stored=True),
    tags=fields.KEYWORD(commas=True, lowercase=True),
    published=fields.DATETIME(stored=True, sortable=True),
)
with tempfile.TemporaryDirectory() as d:
    ix = index.create_in(d, schema)
    w = ix.writer()
    w.add_document(id="a", body="Oil prices rose", tags="crude,usa",
                   published=datetime.datetime(2020, 1, 1))
    w.add_document(id="b", body="Government oil policy", tags="crude",
                   published=datetime.datetime(2021, 1, 1))
    w.commit()
    with ix.searcher() as s:
        q = qparser.QueryParser("body", schema).parse("oil")
        r = s.search(q, sortedby="published", reverse=True)
        r.formatter = highlight.HtmlFormatter(tagname="mark")
        assert [h["id"] for h in r] == ["b", "a"], [h["id"] for h in r]
        assert "<mark" in r[0].highlights("body")
    ix.close()
print("ok")
"""


# ---------------------------------------------------------------- helpers


def err_text(exc: BaseException) -> str:
    """One-line exception text, e.g. ``TypeError: bad keyword``."""
    text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:400]


def percentile(values: list[float], pct: int) -> float:
    """Linear-interpolated percentile (statistics.quantiles, inclusive)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class _TextExtractor(html.parser.HTMLParser):
    BLOCKS = {"p", "h3", "li", "ul", "br"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def strip_html(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts).strip()


def load_corpus(corpus_dir: Path) -> list[dict]:
    """Read every *.jsonl file into dicts shaped like the index fields."""
    docs = []
    for path in sorted(corpus_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                art = json.loads(line)
                docs.append(
                    {
                        "id": art["id"],
                        "headline": art["headline"],
                        "dek": art.get("dek") or "",
                        "body": strip_html(art["body_html"]),
                        "byline": art.get("author") or "",
                        "tags": ",".join(art.get("tags") or []),
                        "section": art["section"],
                        "published": dt.datetime.fromisoformat(art["published"]),
                    }
                )
    return docs


# ----------------------------------------------------------------- worker


def whoosh_distribution() -> tuple[str, str]:
    """Which installed distribution provides the top-level ``whoosh``."""
    names = importlib.metadata.packages_distributions().get("whoosh", ["?"])
    name = names[0]
    try:
        return name, importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return name, "?"


def check_fresh_bytecode() -> dict:
    """Delete whoosh's __pycache__ and import it with -W error -B."""
    spec = importlib.util.find_spec("whoosh")  # locates without importing
    if spec is None or not spec.submodule_search_locations:
        return {"import_ok": False, "import_error": "whoosh not installed"}
    pkg_dir = Path(list(spec.submodule_search_locations)[0]).resolve()
    prefix = Path(sys.prefix).resolve()
    if sys.prefix == sys.base_prefix or prefix not in pkg_dir.parents:
        return {
            "import_ok": None,
            "import_error": f"refused: {pkg_dir} is not inside a venv's prefix",
        }
    removed = 0
    for cache in list(pkg_dir.rglob("__pycache__")):
        shutil.rmtree(cache)
        removed += 1
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out: dict = {"pycache_dirs_removed": removed}
    checks = {
        "import": "import " + ", ".join(CHECK_MODULES),
        "smoke": SMOKE,
    }
    for key, code in checks.items():
        proc = subprocess.run(
            [sys.executable, "-W", "error", "-B", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = proc.stderr.strip().splitlines()
        out[f"{key}_ok"] = proc.returncode == 0
        out[f"{key}_error"] = lines[-1] if proc.returncode and lines else ""
        if proc.returncode:
            # the file/line that raised, for the report
            where = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
            out[f"{key}_where"] = where[-1] if where else ""
    return out


def phrase_probe() -> dict:
    """A phrase whose two occurrences lie exactly 46 positions apart.

    46 is ``ord(".")``: a varint-encoded position list ending in that byte
    must still decode (pickled lists, the old format, end with ".").
    """
    from whoosh import fields, index, qparser
    from whoosh.analysis import StemmingAnalyzer

    schema = fields.Schema(body=fields.TEXT(analyzer=StemmingAnalyzer()))
    out = {}
    for gap in (44, 45):  # 44 filler words -> positions 0 and 46
        with tempfile.TemporaryDirectory() as tmp:
            ix = index.create_in(tmp, schema)
            writer = ix.writer()
            text = "prime minister " + "word " * gap + "prime minister"
            writer.add_document(body=text)
            writer.commit()
            with ix.searcher() as searcher:
                query = qparser.QueryParser("body", schema).parse('"prime minister"')
                try:
                    out[f"gap_{gap + 2}"] = len(searcher.search(query))
                except Exception as exc:  # noqa: BLE001
                    out[f"gap_{gap + 2}"] = err_text(exc)
            ix.close()
    return out


def make_schema():
    from whoosh import fields
    from whoosh.analysis import StemmingAnalyzer

    ana = StemmingAnalyzer()
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        headline=fields.TEXT(analyzer=ana, stored=True, field_boost=3.0),
        dek=fields.TEXT(analyzer=ana),
        body=fields.TEXT(analyzer=ana),
        byline=fields.TEXT,
        tags=fields.KEYWORD(commas=True, lowercase=True),
        section=fields.ID(stored=True, sortable=True),
        published=fields.DATETIME(stored=True, sortable=True),
    )


def open_writer(ix, notes: list[str], **kwargs):
    """``ix.writer(..., compound=False)``; falls back if it is refused."""
    try:
        return ix.writer(compound=False, **kwargs), True
    except TypeError as exc:
        notes.append(f"ix.writer(compound=False) refused: {err_text(exc)}")
        return ix.writer(**kwargs), False


def commit_writer(writer, notes: list[str]) -> str:
    """Commit with merge=False (and compound=False if commit accepts it)."""
    import inspect

    try:
        params = inspect.signature(writer.commit).parameters
    except (TypeError, ValueError):
        params = {}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kwargs = {}
    if "merge" in params or var_kw:
        kwargs["merge"] = False
    if "compound" in params:
        kwargs["compound"] = False
    try:
        writer.commit(**kwargs)
    except TypeError as exc:
        notes.append(f"commit({kwargs}) refused: {err_text(exc)}; plain commit()")
        writer.commit()
        return "commit()"
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"commit({args})"


def process_tree_cpu_s() -> float:
    """CPU seconds of this process and of its finished, joined children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def build_index(index_dir: Path, docs: list[dict], notes: list[str]) -> dict:
    from whoosh import index

    if index_dir.exists():
        shutil.rmtree(index_dir)
    index_dir.mkdir(parents=True)
    t0, cpu0 = time.perf_counter(), process_tree_cpu_s()
    ix = index.create_in(str(index_dir), make_schema())
    writer, compound_kw = open_writer(
        ix, notes, procs=2, multisegment=True, limitmb=256
    )
    for doc in docs:
        writer.add_document(**doc)
    t_added = time.perf_counter()
    commit_call = commit_writer(writer, notes)
    t1 = time.perf_counter()
    files = [p.name for p in index_dir.iterdir()]
    return {
        "ix": ix,
        "build_s": round(t1 - t0, 2),
        # this process plus its joined sub-writers: robust to other load
        "build_cpu_s": round(process_tree_cpu_s() - cpu0, 2),
        "add_docs_s": round(t_added - t0, 2),
        "commit_s": round(t1 - t_added, 2),
        "writer_class": type(writer).__name__,
        "writer_compound_false_accepted": compound_kw,
        "commit_call": commit_call,
        "index_files": len(files),
        "compound_seg_files": sum(1 for f in files if f.endswith(".seg")),
        "size_mb": round(dir_size(index_dir) / 1e6, 1),
    }


def run_queries(searcher, bodies: dict[str, str], rounds: int) -> dict:
    from whoosh.highlight import ContextFragmenter, HtmlFormatter
    from whoosh.qparser import MultifieldParser
    from whoosh.query import Term

    parser = MultifieldParser(["headline", "dek", "body"], searcher.schema)
    formatter = HtmlFormatter(tagname="mark")
    fragmenter = ContextFragmenter(maxchars=200, surround=40)

    def one(text: str, section: str | None, newest: bool) -> tuple[int, list]:
        query = parser.parse(text)
        kwargs: dict = {"limit": 10}
        if section:
            sec_q = Term("section", section)
            kwargs["filter"] = set(searcher.docs_for_query(sec_q))
        if newest:
            kwargs["sortedby"] = "published"
            kwargs["reverse"] = True
        results = searcher.search(query, **kwargs)
        total = len(results)
        results.formatter = formatter
        results.fragmenter = fragmenter
        page = []
        for hit in results:
            stored = hit.fields()
            snippet = hit.highlights("body", text=bodies[stored["id"]], top=1)
            page.append((stored["id"], stored["headline"], snippet))
        return total, page

    per_query: list[list[float]] = [[] for _ in QUERIES]
    per_query_cpu: list[list[float]] = [[] for _ in QUERIES]
    counts: list[int] = []
    errors: dict[str, str] = {}
    problems: dict[str, str] = {}
    for rnd in range(rounds + 1):  # round 0 is a warm-up, not timed
        for i, (_, text, section, newest) in enumerate(QUERIES):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                total, page = one(text, section, newest)
            except Exception as exc:  # noqa: BLE001 - record and go on
                errors[text] = err_text(exc)
                if rnd == 0:
                    counts.append("error")
                continue
            ms = (time.perf_counter() - t0) * 1000
            cpu_ms = (time.process_time() - c0) * 1000
            if rnd == 0:
                counts.append(total)
                body_query = ":" not in text  # tags:... cannot mark the body
                if body_query and page and not any("<mark" in p[2] for p in page):
                    problems[text] = "no <mark> in any highlight"
            else:
                per_query[i].append(ms)
                per_query_cpu[i].append(cpu_ms)
    medians = [statistics.median(t) for t in per_query if t]
    cpu_medians = [statistics.median(t) for t in per_query_cpu if t]
    out: dict = {"hit_counts": counts, "query_errors": errors}
    out["query_problems"] = problems
    out["queries_ok"] = f"{len(QUERIES) - len(errors)}/{len(QUERIES)}"
    if medians:
        out["p50_ms"] = round(percentile(medians, 50), 2)
        out["p95_ms"] = round(percentile(medians, 95), 2)
        out["max_ms"] = round(max(medians), 2)
        out["per_query_median_ms"] = [round(m, 2) for m in medians]
        out["cpu_p50_ms"] = round(percentile(cpu_medians, 50), 2)
        out["cpu_p95_ms"] = round(percentile(cpu_medians, 95), 2)
    return out


def add_hundred(ix, searcher, docs: list[dict], notes: list[str]) -> dict:
    from whoosh.query import Term

    before = searcher.doc_count()
    extra = []
    for doc in docs[-100:]:
        new = dict(doc)
        new["id"] = doc["id"] + "~add100"
        extra.append(new)
    t0 = time.perf_counter()
    writer, _ = open_writer(ix, notes)
    for doc in extra:
        writer.add_document(**doc)
    t1 = time.perf_counter()
    writer.commit()
    t2 = time.perf_counter()
    new_searcher = searcher.refresh()
    t3 = time.perf_counter()
    found = len(new_searcher.search(Term("id", extra[0]["id"])))
    return {
        "searcher": new_searcher,
        "add_s": round(t1 - t0, 3),
        "commit_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "refresh_ms": round((t3 - t2) * 1000, 1),
        "new_searcher_docs": new_searcher.doc_count() - before,
        "new_doc_found": found == 1,
    }


def try_more_like(searcher, bodies: dict[str, str]) -> dict:
    from whoosh.query import Term

    out: dict = {}
    docnum = next(iter(searcher.docs_for_query(Term("body", "govern"))))
    doc_id = searcher.stored_fields(docnum)["id"]
    try:
        hits = searcher.more_like(docnum, "body")
        out["more_like_ok"] = True
        out["more_like_hits"] = len(hits)
    except Exception as exc:  # noqa: BLE001
        out["more_like_ok"] = False
        out["more_like_error"] = err_text(exc)
        try:  # body is neither stored nor vectored: pass the text instead
            hits = searcher.more_like(docnum, "body", text=bodies[doc_id])
            out["more_like_text_ok"] = True
            out["more_like_text_hits"] = len(hits)
        except Exception as exc2:  # noqa: BLE001
            out["more_like_text_ok"] = False
            out["more_like_text_error"] = err_text(exc2)
    return out


def try_suggest(searcher) -> dict:
    field = searcher.schema["body"]
    if not getattr(field, "spelling", False):
        return {"suggest": "skipped: body field has spelling=False"}
    t0 = time.perf_counter()
    try:
        words = searcher.suggest("body", "goverment", limit=1, maxdist=2, prefix=1)
    except Exception as exc:  # noqa: BLE001
        return {"suggest": "error", "suggest_error": err_text(exc)}
    ms = (time.perf_counter() - t0) * 1000
    return {"suggest": words, "suggest_ms": round(ms, 1)}


def worker(args: argparse.Namespace) -> dict:
    dist, version = whoosh_distribution()
    res: dict = {
        "distribution": dist,
        "version": version,
        "python": sys.version.split()[0],
        "executable": sys.executable,
    }
    notes: list[str] = []
    res["notes"] = notes
    res["loadavg_start"] = Path("/proc/loadavg").read_text().split()[0]
    try:
        res.update(check_fresh_bytecode())
    except Exception as exc:  # noqa: BLE001
        res["import_ok"] = False
        res["import_error"] = f"check crashed: {err_text(exc)}"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res["phrase_probe"] = phrase_probe()
        except Exception as exc:  # noqa: BLE001
            res["phrase_probe"] = {"error": err_text(exc)}
        try:
            t0 = time.perf_counter()
            docs = load_corpus(Path(args.corpus_dir))[: args.max_docs]
            res["docs"] = len(docs)
            res["load_and_strip_s"] = round(time.perf_counter() - t0, 2)
            bodies = {d["id"]: d["body"] for d in docs}
            build = build_index(Path(args.index_dir), docs, notes)
            ix = build.pop("ix")
            res["build"] = build
        except Exception as exc:  # noqa: BLE001
            res["fatal"] = f"build failed: {err_text(exc)}"
            res["traceback"] = traceback.format_exc()[-2000:]
            return res
        steps = [
            ("queries", lambda s: run_queries(s, bodies, args.rounds)),
            ("more_like", lambda s: try_more_like(s, bodies)),
            ("suggest", try_suggest),
        ]
        searcher = ix.searcher()
        try:
            res["segments"] = len(searcher.reader().leaf_readers())
            res["searcher_doc_count"] = searcher.doc_count()
            for name, step in steps:
                try:
                    res[name] = step(searcher)
                except Exception as exc:  # noqa: BLE001
                    res[name] = {"error": err_text(exc)}
            try:
                add = add_hundred(ix, searcher, docs, notes)
                searcher = add.pop("searcher")
                res["add100"] = add
            except Exception as exc:  # noqa: BLE001
                res["add100"] = {"error": err_text(exc)}
        finally:
            for obj in (searcher, ix):
                try:
                    obj.close()
                except Exception as exc:  # noqa: BLE001
                    notes.append(f"{type(obj).__name__}.close(): `{err_text(exc)}`")
    res["size_after_add_mb"] = round(dir_size(Path(args.index_dir)) / 1e6, 1)
    by_category: dict[str, list[str]] = {}
    for w in caught:
        where = f"{Path(w.filename).name}:{w.lineno}"
        by_category.setdefault(w.category.__name__, []).append(f"{w.message} ({where})")
    res["runtime_warnings"] = [
        f"{cat} x{len(msgs)}, e.g. {msgs[0]}" for cat, msgs in by_category.items()
    ]
    res["loadavg_end"] = Path("/proc/loadavg").read_text().split()[0]
    return res


# ----------------------------------------------------------------- driver


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def ensure_venv(name: str, requirement: str) -> dict:
    venv = VENV_ROOT / name
    py = venv / "bin" / "python"
    info: dict = {"venv": str(venv)}
    if py.exists():
        info["install"] = "venv existed"
        return info
    sh([sys.executable, "-m", "venv", str(venv)], check=True)
    t0 = time.perf_counter()
    proc = sh([str(py), "-m", "pip", "install", "-q", requirement])
    info["install_s"] = round(time.perf_counter() - t0, 1)
    if proc.returncode:
        info["install_error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
    return info


def installed_deps(name: str, requirement: str) -> list[str]:
    py = VENV_ROOT / name / "bin" / "python"
    proc = sh([str(py), "-m", "pip", "list", "--format=json"])
    if proc.returncode:
        return ["?"]
    dist = requirement.split("==")[0].lower().replace("_", "-")
    skip = {"pip", "setuptools", "wheel", dist}
    return [
        f"{p['name']} {p['version']}"
        for p in json.loads(proc.stdout)
        if p["name"].lower().replace("_", "-") not in skip
    ]


def read_metadata(name: str, requirement: str) -> dict:
    """Declared metadata from the artifact ``pip download --no-deps`` gets."""
    py = VENV_ROOT / name / "bin" / "python"
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        pip = [str(py), "-m", "pip"]
        proc = sh([*pip, "download", "-q", "--no-deps", "-d", tmp, requirement])
        files = list(Path(tmp).iterdir())
        if proc.returncode or not files:
            out["metadata_error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return out
        art = files[0]
        out["artifact"] = art.name
        text, stamp = "", None
        if art.suffix == ".whl":
            with zipfile.ZipFile(art) as zf:
                for info in zf.infolist():
                    if info.filename.endswith(".dist-info/METADATA"):
                        text = zf.read(info).decode("utf-8", "replace")
                        stamp = dt.datetime(*info.date_time).date().isoformat()
    header = text.split("\n\n", 1)[0]
    fields: dict[str, list[str]] = {}
    for line in header.splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value.strip())
    status = [c for c in fields.get("Classifier", []) if "Development Status" in c]
    out["requires_python"] = (fields.get("Requires-Python") or ["(none)"])[0]
    out["dev_status"] = status[0].split(" :: ")[-1] if status else "(none)"
    out["requires_dist"] = [
        r for r in fields.get("Requires-Dist", []) if "extra ==" not in r
    ]
    out["wheel_metadata_date"] = stamp
    return out


def index_versions(name: str, requirement: str) -> str:
    py = VENV_ROOT / name / "bin" / "python"
    proc = sh([str(py), "-m", "pip", "index", "versions", requirement.split("==")[0]])
    for line in proc.stdout.splitlines():
        if line.startswith("Available versions:"):
            versions = line.split(":", 1)[1].split(",")
            return f"{len(versions)} versions, highest {versions[0].strip()}"
    return "?"


def upload_dates(requirement: str) -> dict:
    """Upload times from PyPI's JSON simple API (PEP 691/700), as pip reads."""
    dist, version = requirement.split("==")
    req = urllib.request.Request(
        f"https://pypi.org/simple/{dist}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            data = json.load(resp)
    except Exception as exc:  # noqa: BLE001
        return {"upload_error": err_text(exc)}
    versions = set(data.get("versions", []))
    by_version: dict[str, str] = {}
    for f in data.get("files", []):
        stamp = f.get("upload-time")
        ver = _version_of(f["filename"])
        if stamp and ver in versions and stamp < by_version.get(ver, "9999"):
            by_version[ver] = stamp
    if not by_version:
        return {"upload_error": "no upload-time in index response"}
    latest = max(by_version, key=by_version.get)
    return {
        "release_date": by_version.get(version, "?")[:10],
        "latest_upload": f"{latest} ({by_version[latest][:10]})",
        "first_upload": min(by_version.values())[:10],
        "releases": len(by_version),
        "releases_last_365d": sum(
            1
            for s in by_version.values()
            if dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
            > dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
        ),
    }


def _version_of(filename: str) -> str:
    """``Whoosh_Reloaded-2.7.5-py3-none-any.whl`` / ``whoosh-ng-5.4.0.tar.gz``."""
    if filename.endswith((".whl", ".egg")):
        return filename.split("-")[1]
    stem = re.sub(r"\.(tar\.gz|zip|tar\.bz2)$", "", filename)
    return stem.rsplit("-", 1)[-1]


def machine_info() -> dict:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "date": sh(["date", "-u"]).stdout.strip(),
        "nproc": sh(["nproc"]).stdout.strip(),
        "cpu": model,
        "python": sys.version.split()[0],
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def cpu_times() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat (user ... steal), in ticks."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]


def own_cpu_s() -> float:
    """CPU seconds of this process's finished children (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait_s: float = 30, busy_limit: float = 0.15) -> float:
    """Wait (bounded) until the machine is mostly idle; seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait_s:
        before = cpu_times()
        time.sleep(5)
        delta = [b - a for a, b in zip(before, cpu_times(), strict=True)]
        busy = sum(delta[i] for i in (0, 1, 2, 5, 6)) / max(sum(delta), 1)
        if busy < busy_limit:
            break
    return round(time.perf_counter() - t0, 1)


def run_worker(name: str, args: argparse.Namespace) -> dict:
    py = VENV_ROOT / name / "bin" / "python"
    cmd = [str(py), str(Path(__file__).resolve())]
    cmd += ["--index-dir", str(VENV_ROOT / name / "index")]
    cmd += ["--rounds", str(args.rounds), "--corpus-dir", args.corpus_dir]
    if args.max_docs:
        cmd += ["--max-docs", str(args.max_docs)]
    t0, cpu0, own0 = time.perf_counter(), cpu_times(), own_cpu_s()
    try:
        proc = sh(cmd, timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"fatal": f"worker timed out after {WORKER_TIMEOUT_S} s"}
    wall = round(time.perf_counter() - t0, 1)
    delta = [b - a for a, b in zip(cpu0, cpu_times(), strict=True)]
    # busy = user + nice + system + irq + softirq; what the worker did not use
    # was used by other processes: a measure of how noisy the run was.
    busy_s = sum(delta[i] for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")
    other_s = max(busy_s - (own_cpu_s() - own0), 0.0)
    capacity_s = wall * (os.cpu_count() or 1)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"fatal": f"exit {proc.returncode}: " + " | ".join(tail)}
    res = json.loads(lines[-1])
    res["wall_s"] = wall
    res["cpu_steal_pct"] = round(100 * delta[7] / max(sum(delta), 1), 1)
    res["other_procs_cpu_pct"] = round(100 * other_s / max(capacity_s, 1e-9), 1)
    if proc.returncode:
        res.setdefault("notes", []).append(f"worker exit code {proc.returncode}")
    return res


CROSS_READ = """
import sys
from whoosh import index
from whoosh.qparser import MultifieldParser
ix = index.open_dir(sys.argv[1])
with ix.searcher() as s:
    p = MultifieldParser(["headline", "dek", "body"], s.schema)
    print(" / ".join(str(len(s.search(p.parse(q)))) for q in sys.argv[2:]))
"""


def cross_read(names: list[str]) -> dict[str, dict[str, str]]:
    """Open each distribution's index with every other distribution."""
    table: dict[str, dict[str, str]] = {}
    for writer in names:
        ix_dir = VENV_ROOT / writer / "index"
        table[writer] = {}
        for reader in names:
            if not ix_dir.exists():
                table[writer][reader] = "no index"
                continue
            py = str(VENV_ROOT / reader / "bin" / "python")
            queries = ["government", '"prime minister"']
            proc = sh([py, "-c", CROSS_READ, str(ix_dir), *queries], timeout=300)
            lines = (proc.stdout if proc.returncode == 0 else proc.stderr).split("\n")
            lines = [ln for ln in lines if ln.strip()]
            table[writer][reader] = lines[-1] if lines else f"exit {proc.returncode}"
    return table


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def spread(values: list) -> str:
    """Median, with the range when there is more than one sample."""
    nums = [v for v in values if isinstance(v, int | float)]
    if not nums:
        return "–"
    med, low, high = statistics.median(nums), min(nums), max(nums)
    if low == high:
        return f"{med:.3g}"
    return f"{med:.3g} ({low:.3g}–{high:.3g})"


def report_notes(res: dict) -> list[str]:
    notes = list(res.get("notes", []))
    for key in ("import", "smoke"):
        if res.get(f"{key}_ok") is False:
            where = res.get(f"{key}_where", "")
            notes.append(f"-W error {key}: `{res.get(f'{key}_error')}` {where}".strip())
    probe = res.get("phrase_probe", {})
    if any(v != 1 for v in probe.values()):
        notes.append(f"phrase probe, 1 doc, occurrences 46 / 47 apart: {probe}")
    build = res.get("build", {})
    if build:
        notes.append(
            f"{build['writer_class']}, {build['commit_call']}, "
            f"{res.get('segments', '?')} segments, "
            f"{build['compound_seg_files']} compound .seg files"
        )
    q = res.get("queries", {})
    for text, error in q.get("query_errors", {}).items():
        notes.append(f"query {text!r}: `{error}`")
    for text, problem in q.get("query_problems", {}).items():
        notes.append(f"query {text!r}: {problem}")
    if "error" in q:
        notes.append(f"queries: `{q['error']}`")
    ml = res.get("more_like", {})
    if ml.get("more_like_ok"):
        notes.append(f"more_like OK ({ml['more_like_hits']} hits)")
    elif ml:
        msg = ml.get("more_like_error") or ml.get("error")
        alt = (
            "works with text=body"
            if ml.get("more_like_text_ok")
            else f"text=body also fails: `{ml.get('more_like_text_error')}`"
        )
        notes.append(f"more_like(docnum, 'body') fails: `{msg}`; {alt}")
    sug = res.get("suggest", {})
    if sug:
        notes.append(f"suggest: {sug.get('suggest_error') or sug.get('suggest')}")
    add = res.get("add100", {})
    if "error" in add:
        notes.append(f"add100: `{add['error']}`")
    elif add and not (add["new_doc_found"] and add["new_searcher_docs"] == 100):
        notes.append(f"add100 visibility problem: {add}")
    for w in res.get("runtime_warnings", []):
        notes.append(f"runtime warning: `{w}`")
    if "fatal" in res:
        notes.append(f"FAILED: `{res['fatal']}`")
    return notes


def _mask_numbers(match: re.Match) -> str:
    """Doc numbers and file names differ between passes; errors do not."""
    return re.sub(r"\d+|'[^']*'", "#", match.group())


def row_cells(row: dict) -> list:
    results = row["results"]
    first = results[0] if results else {}

    def each(*path) -> list:
        out = []
        for res in results:
            for key in path:
                res = res.get(key, {}) if isinstance(res, dict) else {}
            out.append(res)
        return out

    def passfail(key: str) -> str:
        oks = [r.get(key) for r in results]
        if False in oks:
            return "**FAIL**"
        return "pass" if oks and all(oks) else "n/a"

    lat = f"{spread(each('queries', 'p50_ms'))} / {spread(each('queries', 'p95_ms'))}"
    cpu = f"{spread(each('queries', 'cpu_p50_ms'))} / "
    cpu += spread(each("queries", "cpu_p95_ms"))
    ran = first.get("queries", {}).get("queries_ok", "")
    if ran and ran != f"{len(QUERIES)}/{len(QUERIES)}":
        cpu += f" (only {ran} queries ran)"
    notes: list[str] = []
    seen: set[str] = set()
    for res in results:
        for note in report_notes(res):
            key = re.sub(r"`[^`]*`", _mask_numbers, note)
            if key not in seen:
                seen.add(key)
                notes.append(note)
    return [
        row["requirement"].split("==")[0],
        first.get("version", row["requirement"].split("==")[1]),
        passfail("import_ok"),
        passfail("smoke_ok"),
        ", ".join(row["deps"]) or "none",
        spread(each("build", "build_s")),
        spread(each("build", "build_cpu_s")),
        spread(each("build", "size_mb")),
        lat,
        cpu,
        spread(each("add100", "total_s")),
        "; ".join(notes),
    ]


def md_row(cells: list) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def write_report(
    command: str, machine: dict, rows: list[dict], cross: dict, rounds: int
) -> str:
    passes = max(len(r["results"]) for r in rows)
    steal = [r.get("cpu_steal_pct", 0) for row in rows for r in row["results"]]
    other = [r.get("other_procs_cpu_pct", 0) for row in rows for r in row["results"]]
    lines = [
        "# Whoosh distributions compared on the readerapp corpus",
        "",
        f"- Command: `{command}`",
        f"- Date: {machine['date']}",
        f"- Machine: nproc {machine['nproc']}, {machine['cpu']}, "
        f"Python {machine['python']}; load average at start "
        f"{' '.join(machine['loadavg'])}, at end {' '.join(machine['loadavg_end'])}; "
        f"CPU steal during the runs {min(steal, default=0)}–{max(steal, default=0)} %; "
        "CPU used by processes other than the benchmark "
        f"{min(other, default=0)}–{max(other, default=0)} % of the machine "
        "(per pass below; above ~10 % the timings of that pass are contended)",
        f"- Each distribution in its own venv under {VENV_ROOT}/<name>. {passes} "
        "pass(es), one venv at a time, the order reversed on every other pass; "
        "numbers are the median over passes, with the range in brackets.",
        "- Build: all corpus files, "
        "`ix.writer(procs=2, multisegment=True, limitmb=256, compound=False)`, then "
        "`commit(merge=False)`. Stripping the HTML (html.parser) is not counted.",
        f"- Queries: {len(QUERIES)} fixed queries, one long-lived searcher, "
        f"1 warm-up + {rounds} rounds. One timing = parse + top 10 + "
        "`len(results)` + stored fields + one body highlight per hit "
        "(HtmlFormatter mark, ContextFragmenter 200/40); a section filter is "
        "`filter=set(searcher.docs_for_query(Term('section', ...)))`. p50 / p95 "
        "are over the per-query medians (wall clock); the CPU columns use "
        "`time.process_time()` and CPU time of the build's processes, which "
        "another tenant's load inflates far less than wall time.",
        "- add-100 s = `ix.writer(compound=False)`, 100 `add_document`, `commit()`; "
        "then `searcher = searcher.refresh()`.",
        "- -W error columns: `python -W error -B` with PYTHONDONTWRITEBYTECODE=1 "
        "after deleting the venv's whoosh `__pycache__` folders; *import* imports "
        f"{len(CHECK_MODULES)} modules, *smoke* builds, searches, sorts and "
        "highlights a 2-document index.",
        "",
        "| distribution | version | -W error import, fresh bytecode | -W error smoke "
        "| deps pulled in | build s | build CPU s | index MB | p50 / p95 ms "
        "| CPU p50 / p95 ms | add-100 s | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [md_row(row_cells(row)) for row in rows]
    lines += [
        "",
        "## Declared metadata",
        "",
        "| distribution | Requires-Python | Development Status | this release "
        "uploaded | latest upload | releases (in the last 365 d) | first upload "
        "| pip index versions | runtime deps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        meta = row["meta"]
        releases = (
            f"{meta.get('releases', '?')} ({meta.get('releases_last_365d', '?')})"
        )
        lines.append(
            md_row(
                [
                    row["requirement"],
                    meta.get("requires_python", "?"),
                    meta.get("dev_status", "?"),
                    meta.get("release_date") or meta.get("upload_error", "?"),
                    meta.get("latest_upload", "?"),
                    releases,
                    meta.get("first_upload", "?"),
                    meta.get("index_versions", "?"),
                    ", ".join(meta.get("requires_dist", [])) or "none",
                ]
            )
        )
    names = [row["name"] for row in rows]
    lines += [
        "",
        "## Query hit counts (warm-up round of the first pass)",
        "",
        "| # | kind | query | section | newest | " + " | ".join(names) + " |",
        "|" + "---|" * (5 + len(rows)),
    ]
    for i, (kind, text, section, newest) in enumerate(QUERIES):
        counts = []
        for row in rows:
            res = row["results"][0] if row["results"] else {}
            found = res.get("queries", {}).get("hit_counts", [])
            counts.append(found[i] if i < len(found) else "–")
        flags = [i + 1, kind, text, section or "", "yes" if newest else ""]
        lines.append(md_row(flags + counts))
    lines += [
        "",
        "## Cross-reading: index written by (row) opened by (column)",
        "",
        'Hits for `government` / `"prime minister"` on each last-pass index '
        "(the built corpus plus the 100 added docs), or the last error line.",
        "",
        "| written by | " + " | ".join(names) + " |",
        "|" + "---|" * (1 + len(names)),
    ]
    for writer in names:
        lines.append(md_row([writer] + [cross[writer][r] for r in names]))
    lines += ["", "## Other measurements (every pass)", ""]
    keys = ("docs", "load_and_strip_s", "segments", "size_after_add_mb", "wall_s")
    keys += ("cpu_steal_pct", "other_procs_cpu_pct", "loadavg_start", "loadavg_end")
    keys += ("waited_for_quiet_s", "build", "add100")
    for row in rows:
        lines.append(f"- **{row['name']}**: install `{json.dumps(row['install'])}`")
        for res in row["results"]:
            extra = {k: res.get(k) for k in keys}
            extra["per_query_median_ms"] = res.get("queries", {}).get(
                "per_query_median_ms"
            )
            lines.append(f"  - `{json.dumps(extra)}`")
    lines.append("")
    text = "\n".join(lines)
    RESULTS_MD.write_text(text, encoding="utf-8")
    return text


def driver(args: argparse.Namespace) -> None:
    command = f"cd {shlex.quote(os.getcwd())} && " + shlex.join(["python3", *sys.argv])
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    rows = []
    for name, requirement in DISTRIBUTIONS.items():
        print(f"== setting up {name}", file=sys.stderr, flush=True)
        install = ensure_venv(name, requirement)
        meta = read_metadata(name, requirement)
        meta.update(upload_dates(requirement))
        meta["index_versions"] = index_versions(name, requirement)
        deps = installed_deps(name, requirement)
        row = {"name": name, "requirement": requirement, "install": install}
        rows.append(row | {"meta": meta, "deps": deps, "results": []})
    for rep in range(args.repeat):
        order = rows if rep % 2 == 0 else rows[::-1]
        for row in order:
            print(f"== pass {rep + 1}: {row['name']}", file=sys.stderr, flush=True)
            if "install_error" in row["install"]:
                err = row["install"]["install_error"]
                row["results"].append({"fatal": f"pip install failed: {err}"})
                continue
            waited = wait_for_quiet()
            row["results"].append(run_worker(row["name"], args))
            row["results"][-1]["waited_for_quiet_s"] = waited
            print(json.dumps(row["results"][-1]), file=sys.stderr, flush=True)
    names = [row["name"] for row in rows]
    cross = cross_read(names)
    for name in names:
        shutil.rmtree(VENV_ROOT / name / "index", ignore_errors=True)
    machine["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(write_report(command, machine, rows, cross, args.rounds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", action="store_true", help="driver: run every venv")
    ap.add_argument("--corpus-dir", default=str(CORPUS_DIR))
    ap.add_argument("--index-dir", default=None, help="worker: where to build")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument(
        "--repeat", type=int, default=2, help="driver: passes, order alternates"
    )
    ap.add_argument("--max-docs", type=int, default=None, help="worker: quick test")
    args = ap.parse_args()
    if args.all:
        driver(args)
        return
    if args.index_dir is None:
        args.index_dir = str(Path(sys.prefix) / "whoosh-forks-index")
    try:
        res = worker(args)
    except Exception as exc:  # noqa: BLE001 - the driver still gets a line
        res = {"fatal": err_text(exc), "traceback": traceback.format_exc()[-2000:]}
    print(json.dumps(res, default=str))


if __name__ == "__main__":
    main()
