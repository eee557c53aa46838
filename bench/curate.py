"""Benchmark lmforge curate against dolma 1.2.1 on the same corpus, same process count, same run.

    bash /work/shared/corpus/build.sh /tmp/corpus5 --max-mb 5      # once (shared; see docs/performance.md)
    bash /work/shared/bench/dolma/setup.sh                         # once: dolma venv under $BENCH_HOME
    .venv/bin/python bench/curate.py /tmp/corpus5 [--processes 1] [--repeats 2]

Stages (interleaved: dolma, lmforge, dolma, lmforge, ... so load on the shared box hits both alike):
  tag     gopher_v1 c4_v2 pii_regex_with_counts_fast_v2 char_length_v1
          whitespace_tokenizer_with_paragraphs_v1 cld2_en_paragraph_with_doc_score_v2   (dolma's bench set)
  dedupe  exact paragraph dedup with a Bloom filter (dolma's Rust deduper vs lmforge curate dedup)
  mix     Dolma-v1.5-style rules + duplicate-paragraph removal + PII masking (shared/bench/dolma/mix.yaml)

Each stage runs as a fresh subprocess (start-up included for both tools); CPU seconds are user+sys of the
process and its children. The headline ratio is MB of text per CPU-second, lmforge / dolma (>1: lmforge
is cheaper). Parity is checked in the same run: every attribute of the six taggers, the duplicate
paragraph spans, and the mixed documents (ids and texts) must equal dolma's. c4_v2 uses dolma's installed
bad-words list here (lmforge ships its own, smaller list by default) so has_naughty_word is comparable.
"""

from __future__ import annotations

import sys

# bench/tokenize.py would shadow the standard library's tokenize module for scripts run from bench/
if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    sys.path.pop(0)

import argparse
import glob
import gzip
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LMFORGE_SHARED", "/work/shared"))
BENCH_HOME = Path(
    os.environ.get("LMFORGE_BENCH_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "lmforge-bench"))
)
DOLMA_VENV = BENCH_HOME / "venvs" / "dolma"
TAGGERS = [
    "gopher_v1",
    "c4_v2",
    "pii_regex_with_counts_fast_v2",
    "char_length_v1",
    "whitespace_tokenizer_with_paragraphs_v1",
    "cld2_en_paragraph_with_doc_score_v2",
]


def run_timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        sys.stderr.write(f"FAILED ({rc}): {' '.join(cmd)}\n{tail}")
        sys.exit(rc)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def corpus_size(pattern: str) -> tuple[int, float]:
    docs = size = 0
    for path in glob.glob(pattern):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                docs += 1
                size += len(json.loads(line)["text"].encode("utf-8"))
    return docs, size / 1e6


class Tools:
    def __init__(self, work: Path, processes: int) -> None:
        self.work, self.p = work, processes
        self.dolma_root = work / "dolma" / "data"
        self.lm_root = work / "lmforge" / "data"
        self.logs = work / "logs"
        self.dolma_env = {
            **os.environ,
            "PATH": f"{DOLMA_VENV}/bin:{os.environ['PATH']}",
            "NLTK_DATA": str(BENCH_HOME / "dolma" / "nltk_data"),
            "XDG_CACHE_HOME": str(BENCH_HOME / "cache"),
            "TOKENIZERS_PARALLELISM": "false",
            "RUST_LOG": "warn",
        }
        self.lm_env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        self.lmforge = [str(REPO / ".venv" / "bin" / "lmforge"), "curate"]
        naughty = glob.glob(
            str(DOLMA_VENV / "lib" / "python3*" / "site-packages" / "dolma" / "data" / "naughty_words_en.txt")
        )
        self.naughty = naughty[0]

    def docs(self, root: Path) -> str:
        return str(root / "documents" / "*" / "*.jsonl.gz")

    # ------------------------------------------------------------------ dolma
    def dolma_tag(self, i: int) -> tuple[float, float]:
        for name in TAGGERS:
            shutil.rmtree(self.dolma_root / "attributes" / name, ignore_errors=True)
        shutil.rmtree(self.work / "dolma" / "tmp", ignore_errors=True)
        cmd = ["dolma", "tag", "--documents", self.docs(self.dolma_root), "--taggers", *TAGGERS,
               "--processes", str(self.p), "--work_dir.input", str(self.work / "dolma/tmp/in"),
               "--work_dir.output", str(self.work / "dolma/tmp/out")]  # fmt: skip
        return run_timed(cmd, self.logs / f"dolma-tag-{i}.log", self.dolma_env)

    def _dolma_cfg(self, name: str) -> Path:
        text = (
            (SHARED / "bench" / "dolma" / f"{name}.yaml")
            .read_text()
            .replace("@WORK@", str(self.work / "dolma"))
        )
        path = self.work / "cfg" / f"dolma-{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def dolma_dedupe(self, i: int) -> tuple[float, float]:
        shutil.rmtree(self.dolma_root / "attributes" / "dedupe_para", ignore_errors=True)
        shutil.rmtree(self.work / "dolma" / "tmp", ignore_errors=True)
        (self.work / "dolma" / "bloom").mkdir(parents=True, exist_ok=True)
        Path(self.work / "dolma" / "bloom" / "para.bin").unlink(missing_ok=True)
        cmd = ["dolma", "-c", str(self._dolma_cfg("dedupe")), "dedupe", "--processes", str(self.p)]
        return run_timed(cmd, self.logs / f"dolma-dedupe-{i}.log", self.dolma_env)

    def dolma_mix(self, i: int) -> tuple[float, float]:
        shutil.rmtree(self.work / "dolma" / "mixed", ignore_errors=True)
        shutil.rmtree(self.work / "dolma" / "tmp", ignore_errors=True)
        cmd = ["dolma", "-c", str(self._dolma_cfg("mix")), "mix", "--processes", str(self.p)]
        return run_timed(cmd, self.logs / f"dolma-mix-{i}.log", self.dolma_env)

    # ---------------------------------------------------------------- lmforge
    def _common(self) -> list[str]:
        return ["--processes", str(self.p), "--no-progress", "--force"]

    def lm_tag(self, i: int) -> tuple[float, float]:
        cmd = [*self.lmforge, "tag", "--documents", self.docs(self.lm_root), "--taggers", ",".join(TAGGERS),
               "--option", f"c4_v2.bad_words_file={self.naughty}", *self._common()]  # fmt: skip
        return run_timed(cmd, self.logs / f"lmforge-tag-{i}.log", self.lm_env)

    def lm_dedupe(self, i: int) -> tuple[float, float]:
        cmd = [*self.lmforge, "dedup", "--documents", self.docs(self.lm_root), "--name", "dedupe_para",
               "--span-convention", "dolma", "--expected-count", "2000000", "--false-positive-rate", "1e-6",
               *self._common()]  # fmt: skip
        return run_timed(cmd, self.logs / f"lmforge-dedupe-{i}.log", self.lm_env)

    def lm_mix(self, i: int) -> tuple[float, float]:
        shutil.rmtree(self.work / "lmforge" / "mixed", ignore_errors=True)
        cmd = [*self.lmforge, "mix", str(self._lm_mix_cfg()), *self._common()]
        return run_timed(cmd, self.logs / f"lmforge-mix-{i}.log", self.lm_env)

    def _lm_mix_cfg(self) -> Path:
        """shared/bench/dolma/mix.yaml translated to lmforge's expression language (same rules)."""
        dolma = yaml.safe_load((SHARED / "bench" / "dolma" / "mix.yaml").read_text())["streams"][0]

        def rule(jsonpath: str) -> str:
            # "$.attributes[?(@.K && @.K[0] && @.K[0][2] < 50)]" -> "K < 50"
            key, test = jsonpath.split("&& @.")[-1].rstrip(")]").split("[0][2]")
            return f"{key.strip()}{test}"

        stream = {
            "name": "cc_v1_5_style",
            "documents": [self.docs(self.lm_root)],
            "attributes": dolma["attributes"],
            "output": {"path": str(self.work / "lmforge" / "mixed"), "max_size_in_bytes": 100_000_000},
            "filter": {"exclude": [rule(e) for e in dolma["filter"]["exclude"]]},
            "span_replacement": [
                {
                    "span": r["span"].removeprefix("$.attributes."),
                    "min_score": r["min_score"],
                    "replacement": r["replacement"],
                }
                for r in dolma["span_replacement"]
            ],
            "drop_empty": False,  # dolma keeps documents whose text became empty
        }
        path = self.work / "cfg" / "lmforge-mix.yaml"
        path.write_text(yaml.safe_dump({"streams": [stream]}))
        return path


def compare_attributes(a_root: Path, b_root: Path, name: str) -> tuple[int, int, list[str]]:
    """(rows, differing attribute values, examples): spans equal, scores within 1e-9."""
    rows = diffs = 0
    examples: list[str] = []
    for fa in sorted(glob.glob(str(a_root / "attributes" / name / "*" / "*.gz"))):
        fb = str(b_root / Path(fa).relative_to(a_root))
        with gzip.open(fa, "rt") as ga, gzip.open(fb, "rt") as gb:
            for la, lb in zip(ga, gb, strict=True):
                ra, rb = json.loads(la), json.loads(lb)
                rows += 1
                if ra["id"] != rb["id"]:
                    diffs += 1
                    continue
                A, B = ra["attributes"], rb["attributes"]
                for key in set(A) | set(B):
                    va, vb = A.get(key), B.get(key)
                    same = (
                        va is not None
                        and vb is not None
                        and len(va) == len(vb)
                        and all(
                            x[0] == y[0]
                            and x[1] == y[1]
                            and math.isclose(x[2], y[2], rel_tol=1e-9, abs_tol=1e-9)
                            for x, y in zip(va, vb)
                        )
                    )
                    if not same:
                        diffs += 1
                        if len(examples) < 3:
                            examples.append(f"{ra['id']} {key}: dolma {str(va)[:80]} lmforge {str(vb)[:80]}")
    return rows, diffs, examples


def compare_mixed(work: Path) -> dict[str, int]:
    def load(pattern: str) -> dict[str, str]:
        out = {}
        for path in glob.glob(pattern):
            with gzip.open(path, "rt") as f:
                for line in f:
                    d = json.loads(line)
                    out[d["id"]] = d["text"]
        return out

    a = load(str(work / "dolma" / "mixed" / "documents" / "*.gz"))
    b = load(str(work / "lmforge" / "mixed" / "*.gz"))
    return {
        "dolma_docs": len(a),
        "lmforge_docs": len(b),
        "same_ids": int(set(a) == set(b)),
        "text_diffs": sum(1 for k in a if k in b and a[k] != b[k]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stages", default="tag,dedupe,mix")
    parser.add_argument("--work", default=str(BENCH_HOME / "curate-bench"))
    args = parser.parse_args()
    if not (DOLMA_VENV / "bin" / "dolma").exists():
        sys.exit(f"no dolma venv in {DOLMA_VENV}: run bash {SHARED}/bench/dolma/setup.sh")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    for tool in ("dolma", "lmforge"):
        shutil.copytree(Path(args.corpus) / "documents", work / tool / "data" / "documents")
    (work / "logs").mkdir(parents=True)
    tools = Tools(work, args.processes)
    docs, mb = corpus_size(tools.docs(tools.lm_root))
    print(
        f"corpus {args.corpus}: {docs} docs, {mb:.2f} MB of text; processes={args.processes}, repeats={args.repeats}"
    )
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}
    stages = args.stages.split(",")
    for stage in ("tag", "dedupe", "mix"):
        if stage not in stages:
            continue
        runs: dict[str, list[tuple[float, float]]] = {"dolma": [], "lmforge": []}
        for i in range(args.repeats):
            runs["dolma"].append(getattr(tools, f"dolma_{stage}")(i))
            runs["lmforge"].append(getattr(tools, f"lm_{stage}")(i))
        results[stage] = runs

    header = f"{'stage':7s} {'tool':8s} {'wall s':>7s} {'CPU s':>7s} {'docs/s':>8s} {'MB/s':>6s} {'MB/CPU-s':>9s} {'ratio':>6s}"
    print("\n" + header + "\n" + "-" * len(header))
    table = []
    for stage, runs in results.items():
        best = {tool: (min(w for w, _ in r), min(c for _, c in r)) for tool, r in runs.items()}
        for tool in ("dolma", "lmforge"):
            wall, cpu = best[tool]
            ratio = (best["dolma"][1] / cpu) if tool == "lmforge" else 1.0
            row = {"stage": stage, "tool": tool, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                   "docs_per_s": round(docs / wall, 1), "mb_per_s": round(mb / wall, 3),
                   "mb_per_cpu_s": round(mb / cpu, 3), "cpu_ratio_vs_dolma": round(ratio, 2)}  # fmt: skip
            table.append(row)
            print(
                f"{stage:7s} {tool:8s} {wall:7.2f} {cpu:7.2f} {docs / wall:8.1f} {mb / wall:6.3f} {mb / cpu:9.3f} {ratio:6.2f}"
            )
    print(
        "(best of the repeats; ratio = dolma CPU-s / lmforge CPU-s, i.e. lmforge's MB per CPU-s relative to dolma)"
    )

    parity: dict[str, object] = {}
    if "tag" in results:
        for name in TAGGERS:
            rows, diffs, examples = compare_attributes(tools.dolma_root, tools.lm_root, name)
            parity[name] = {"rows": rows, "differing_values": diffs}
            print(f"parity {name:42s} rows {rows:6d}  differing values {diffs}")
            for e in examples:
                print("    " + e)
    if "dedupe" in results:
        rows, diffs, examples = compare_attributes(tools.dolma_root, tools.lm_root, "dedupe_para")
        parity["dedupe_para"] = {"rows": rows, "differing_values": diffs}
        print(
            f"parity {'dedupe_para (bff_duplicate_paragraph_spans)':42s} rows {rows:6d}  differing values {diffs}"
        )
    if "mix" in results:
        parity["mix"] = compare_mixed(work)
        print(f"parity mixed documents: {parity['mix']}")
    out = {"corpus": args.corpus, "docs": docs, "mb": round(mb, 3), "processes": args.processes,
           "repeats": args.repeats, "stages": table, "parity": parity}  # fmt: skip
    (work / "results.json").write_text(json.dumps(out, indent=1))
    print(f"results: {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
