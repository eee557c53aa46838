"""Tokenization speed: ``lmforge tokenize`` vs ``dolma tokens`` (dolma 1.2.1) on the same corpus.

Same documents, same tokenizer (OLMo's GPT-NeoX + PII file, EOS 50279), same dtype and process count;
runs are interleaved (lmforge, dolma, lmforge, ...) and repeated, and the medians are compared. The box is
shared, so CPU seconds (user+sys of the command and its children) are reported beside wall time. It also
checks that both tools produce the same token multiset, and that lmforge's peak memory stays flat when the
corpus grows (``--scale``).

    bash /work/shared/bench/dolma/setup.sh
    flock /tmp/corpus5.lock bash /work/shared/corpus/build.sh /tmp/corpus5 --max-mb 5
    .venv/bin/python bench/tokenize.py --corpus /tmp/corpus5 --processes 1 2 --repeats 3
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
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BENCH_HOME = os.environ.get("LMFORGE_BENCH_HOME", os.path.join(tempfile.gettempdir(), "lmforge-bench"))
DOLMA_VENV = os.path.join(BENCH_HOME, "venvs", "dolma")
TOKENIZER = "/work/shared/tokenizers/olmo-gpt-neox-pii.json"
EOS, PAD = 50279, 1
LMFORGE = os.path.join(os.path.dirname(sys.executable), "lmforge")


# Runs a command and prints the rusage of its process tree: a fresh wrapper per command, so the peak RSS
# (the largest single process) is this command's, not the largest of everything run so far.
_WRAPPER = """
import json, resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=sys.stderr).returncode
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "cpu_s": u.ru_utime + u.ru_stime, "max_rss_mb": u.ru_maxrss / 1024}))
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall and CPU seconds (the command and every child it waited for) and its largest process's RSS."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {"rc": -1}
    if proc.returncode != 0 or result["rc"] != 0:
        sys.exit(f"FAILED ({result['rc']}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return {"wall_s": wall, "cpu_s": result["cpu_s"], "max_rss_mb": result["max_rss_mb"]}


_SPLIT = """
import json, resource, sys
from lmforge.tokenize.run import tokenize_documents
tokenize_documents(sys.argv[1], sys.argv[2], sys.argv[3], processes=int(sys.argv[4]), eos_id=int(sys.argv[5]),
                   dtype="uint16", strip_whitespace=True, progress=False)
own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps([own.ru_utime + own.ru_stime, workers.ru_utime + workers.ru_stime]))
"""


def split_cpu(pattern: str, out: str, processes: int) -> tuple[float, float]:
    """CPU seconds of lmforge's reader/writer process and of its encoding workers (the serial fraction
    bounds the speed-up from more processes, whatever the load of the box)."""
    cmd = [sys.executable, "-c", _SPLIT, pattern, TOKENIZER, out, str(processes), str(EOS)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    main_s, workers_s = json.loads(proc.stdout.strip().splitlines()[-1])
    return main_s, workers_s


def lmforge_cmd(pattern: str, out: str, processes: int) -> list[str]:
    return [
        LMFORGE, "tokenize", "--input", pattern, "--tokenizer", TOKENIZER, "--eos-id", str(EOS),
        "--dtype", "uint16", "--output", out, "--processes", str(processes), "--no-progress",
        "--strip-whitespace",  # dolma tokenizes text.strip(): same text, so the same tokens
    ]  # fmt: skip


def dolma_cmd(pattern: str, out: str, work: str, processes: int) -> list[str]:
    return [
        os.path.join(DOLMA_VENV, "bin", "dolma"), "tokens", "--documents", pattern, "--destination", out,
        "--tokenizer.name_or_path", TOKENIZER, "--tokenizer.eos_token_id", str(EOS),
        "--tokenizer.pad_token_id", str(PAD), "--dtype", "uint16", "--processes", str(processes),
        "--seed", "3920", "--work_dir.input", os.path.join(work, "in"),
        "--work_dir.output", os.path.join(work, "out"),
    ]  # fmt: skip


def dolma_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH=os.path.join(DOLMA_VENV, "bin") + os.pathsep + env.get("PATH", ""),
        NLTK_DATA=os.path.join(BENCH_HOME, "dolma", "nltk_data"),  # punkt stub from setup.sh: no download
        XDG_CACHE_HOME=os.path.join(BENCH_HOME, "cache"),
        TOKENIZERS_PARALLELISM="false",
        RUST_LOG="warn",
    )
    return env


def corpus_text(pattern: str) -> tuple[int, float]:
    """(documents, MB of UTF-8 text): the unit of MB/s, as in shared/bench/dolma."""
    docs, size = 0, 0
    for path in glob.glob(pattern):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    docs += 1
                    size += len(json.loads(line)["text"].encode("utf-8"))
    return docs, size / 1e6


def token_counts(files: list[str]) -> np.ndarray:
    counts = np.zeros(1 << 16, dtype=np.int64)
    for path in files:
        counts += np.bincount(np.fromfile(path, dtype=np.uint16), minlength=1 << 16)
    return counts


def scaled_corpus(corpus: str, scale: int, root: str) -> str:
    """A corpus ``scale`` times larger: every file copied ``scale`` times (same documents, more bytes)."""
    for path in glob.glob(os.path.join(corpus, "documents", "*", "*.jsonl.gz")):
        source = os.path.basename(os.path.dirname(path))
        os.makedirs(os.path.join(root, "documents", source), exist_ok=True)
        for k in range(scale):
            shutil.copy(path, os.path.join(root, "documents", source, f"copy{k}-{os.path.basename(path)}"))
    return os.path.join(root, "documents", "*", "*.jsonl.gz")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default="/tmp/corpus5", help="a shared/corpus/build.sh folder")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--scale", type=int, default=4, help="memory check: lmforge on a corpus this many times larger"
    )
    args = parser.parse_args()
    if not os.path.exists(os.path.join(DOLMA_VENV, "bin", "dolma")):
        sys.exit(f"no dolma in {DOLMA_VENV}: run bash /work/shared/bench/dolma/setup.sh")
    pattern = os.path.join(os.path.abspath(args.corpus), "documents", "*", "*.jsonl.gz")
    docs, mb = corpus_text(pattern)
    work = tempfile.mkdtemp(prefix="lmforge-bench-tokenize-")
    rows: dict[tuple[str, int], list[dict[str, float]]] = {}
    tokens = 0
    try:
        for repeat in range(args.repeats):
            for processes in args.processes:
                out = os.path.join(work, f"lmforge-{processes}-{repeat}")
                rows.setdefault(("lmforge", processes), []).append(
                    timed(lmforge_cmd(pattern, out, processes))
                )
                with open(os.path.join(out, "manifest.json")) as f:
                    tokens = json.load(f)["totals"]["tokens"]
                ours = token_counts(sorted(glob.glob(os.path.join(out, "*.npy"))))
                shutil.rmtree(out)
                dout, dwork = os.path.join(work, f"dolma-{processes}-{repeat}"), os.path.join(work, "dwork")
                cmd = dolma_cmd(pattern, dout, dwork, processes)
                rows.setdefault(("dolma", processes), []).append(timed(cmd, dolma_env()))
                theirs = token_counts(sorted(glob.glob(os.path.join(dout, "*.npy"))))
                if not np.array_equal(ours, theirs):
                    sys.exit("lmforge and dolma produced different token multisets")
                shutil.rmtree(dout)
                shutil.rmtree(dwork, ignore_errors=True)
        print(f"corpus {args.corpus}: {docs} documents, {mb:.2f} MB of text, {tokens} tokens (same multiset)")
        print(f"medians of {args.repeats} interleaved runs; CPU s = user+sys of the command and its workers")
        print(
            f"{'tool':8} {'P':>2} {'wall s':>7} {'CPU s':>7} {'MB/s':>7} {'Mtok/s':>7} {'MB/CPU-s':>9} {'RSS MB':>7}"
        )
        summary = {}
        for (tool, processes), runs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0] != "lmforge")):
            wall = statistics.median(r["wall_s"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            rss = max(r["max_rss_mb"] for r in runs)
            summary[(tool, processes)] = (wall, cpu)
            print(
                f"{tool:8} {processes:>2} {wall:7.2f} {cpu:7.2f} {mb / wall:7.2f} {tokens / wall / 1e6:7.3f} "
                f"{mb / cpu:9.2f} {rss:7.0f}"
            )
        for processes in args.processes:
            (lw, lc), (dw, dc) = summary[("lmforge", processes)], summary[("dolma", processes)]
            print(f"P={processes}: lmforge/dolma throughput x{dw / lw:.2f} (wall), x{dc / lc:.2f} (CPU)")
        if len(args.processes) > 1:
            p0, p1 = min(args.processes), max(args.processes)
            speedup = summary[("lmforge", p0)][0] / summary[("lmforge", p1)][0]
            print(
                f"lmforge wall speed-up P={p0} -> P={p1}: x{speedup:.2f} (ideal x{p1 / p0:.0f} on an idle box)"
            )
        big = (
            scaled_corpus(args.corpus, args.scale, os.path.join(work, "scaled"))
            if args.scale > 1
            else pattern
        )
        for processes in args.processes:
            if processes > 1:
                main_s, workers_s = split_cpu(big, os.path.join(work, f"split{processes}"), processes)
                serial = main_s / (main_s + workers_s)
                print(
                    f"P={processes} on {args.scale}x the corpus: reader/writer process {main_s:.2f} CPU-s, "
                    f"encoding workers {workers_s:.2f} CPU-s: serial fraction {serial:.1%}, "
                    f"so at most x{1 / serial:.0f} from more processes"
                )
        if args.scale > 1:
            p = max(args.processes)
            small = timed(lmforge_cmd(pattern, os.path.join(work, "mem1"), p))
            large = timed(lmforge_cmd(big, os.path.join(work, "memN"), p))
            print(
                f"memory: lmforge P={p} peak RSS {small['max_rss_mb']:.0f} MB on 1x, "
                f"{large['max_rss_mb']:.0f} MB on {args.scale}x the corpus"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
