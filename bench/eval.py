"""Downstream-task and perplexity speed: lmforge's evaluator vs lm-eval 0.4.13's ``hf`` backend (HFLM).

Same model (a Hugging Face OLMo folder: HFLM reads it with transformers, lmforge converts it to its own
model), same examples (the shared validation sets), same prompts (lm-eval's stock tasks through the shared
bench task files vs lmforge's built-in tasks), same batch size and torch threads, in one process. For each
task the two are interleaved and repeated; the table shows examples/s of each (time inside the scoring calls,
tokenization included, dataset loading and prompt building excluded, as shared/bench/lmeval/evaluate.py
counts it), the ratio, both accuracies side by side, and the largest per-request log-likelihood difference.
CPU seconds (this process's user+sys) are printed beside wall seconds because the box is shared.

    .venv/bin/python /work/shared/bench/lmeval/make_tiny_model.py /tmp/tiny-olmo      # or any OLMo HF folder
    .venv/bin/python bench/eval.py --model /tmp/tiny-olmo --limit 200 --repeats 3 [--ppl-dir /tmp/corpus5/eval]
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
import resource
import statistics
import sys
import time

SHARED = "/work/shared"
BENCH_TASKS = os.path.join(SHARED, "bench", "lmeval", "tasks")
DEFAULT_TASKS = "arc_easy,arc_challenge,piqa,hellaswag,winogrande,boolq,sciq,openbookqa,copa"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    w0, c0 = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - w0, cpu_seconds() - c0


def lm_eval_side(task, lm, limit, num_fewshot=0):
    """lm-eval's own request building, scoring (timed) and per-example metrics."""
    task.set_fewshot_seed(1234)
    docs = list(task.test_docs() if task.has_test_docs() else task.validation_docs())[:limit]
    per_doc = [task.construct_requests(d, task.fewshot_context(d, num_fewshot=num_fewshot), metadata=("b", i, 1))
               for i, d in enumerate(docs)]  # fmt: skip
    instances = [inst for insts in per_doc for inst in insts]
    scores, wall, cpu = timed(lambda: lm.loglikelihood(instances, disable_tqdm=True))
    metrics, offset = {}, 0
    for doc, insts in zip(docs, per_doc):
        result = task.process_results(doc, scores[offset : offset + len(insts)])
        offset += len(insts)
        for k, v in result.items():
            metrics.setdefault(k, []).append(v)
    return {k: sum(v) / len(v) for k, v in metrics.items()}, [s[0] for s in scores], len(docs), wall, cpu


def lmforge_side(name, model, tokenizer, limit, batch_size, max_length, num_fewshot=0):
    from lmforge.eval.downstream import PairEncoder, prepare_task, score_prepared
    from lmforge.eval.tasks.data import load_examples
    from lmforge.eval.tasks.registry import get_task

    spec = get_task(name)
    data_dir = os.path.join(SHARED, "data", "eval")
    rows = load_examples(spec.dataset, name, data_dir)  # dataset loading is not timed (nor is lm-eval's)

    def run():
        prepared = prepare_task(spec, PairEncoder(tokenizer), data_dir, limit, num_fewshot, all_rows=rows)
        return score_prepared(model, [prepared], max_length, batch_size, progress=False)

    # time the same span as lm-eval's: tokenization + scoring (prompt rendering is included here; it is cheap)
    (results, records), wall, cpu = timed(run)
    lls = [ll for r in records for ll in r["loglikelihoods"]]
    return results[name], lls, len(records), wall, cpu


def mmlu_tasks(n_subjects: int) -> dict:
    """lm-eval's stock MMLU subject tasks, pointed at the shared test/dev rows of the first N subjects."""
    if n_subjects <= 0:
        return {}
    import tempfile

    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    from lmforge.eval.tasks.registry import MMLU_SUBJECTS

    root = os.path.dirname(lm_eval.tasks.__file__)
    folder = tempfile.mkdtemp(prefix="bench-mmlu-")
    rows = {}
    for split in ("test", "dev"):
        with gzip.open(os.path.join(SHARED, "data", "eval", f"mmlu.{split}.jsonl.gz"), "rt") as f:
            rows[split] = [json.loads(line) for line in f if line.strip()]
    for subject in MMLU_SUBJECTS[:n_subjects]:
        files = {}
        for split, all_rows in rows.items():
            files[split] = os.path.join(folder, f"{subject}.{split}.jsonl")
            with open(files[split], "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in all_rows if r["subject"] == subject)
        with open(os.path.join(folder, f"b_mmlu_{subject}.yaml"), "w") as f:
            f.write(f"include: {root}/mmlu/default/mmlu_{subject}.yaml\ntask: b_mmlu_{subject}\ntag: []\n"
                    f"dataset_path: json\ndataset_name: null\n"
                    f"dataset_kwargs:\n  data_files: {{test: {files['test']}, dev: {files['dev']}}}\n")  # fmt: skip
    manager = TaskManager(include_path=folder, include_defaults=False)
    loaded = manager.load_task_or_group([f"b_mmlu_{s}" for s in MMLU_SUBJECTS[:n_subjects]])
    return {s: loaded[f"b_mmlu_{s}"] for s in MMLU_SUBJECTS[:n_subjects]}


def ppl_compare(ppl_dir, model, tokenizer, lm, max_length, batch_size, repeats):
    from lm_eval.api.instance import Instance

    from lmforge.eval.perplexity import DocumentWindows, EvalDocument

    texts = []
    for path in sorted(glob.glob(os.path.join(ppl_dir, "**", "*.json*.gz"), recursive=True)):
        with gzip.open(path, "rt") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    texts = [t for t in texts if t]
    instances = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    docs = [EvalDocument(str(i), t, "s", "s") for i, t in enumerate(texts)]
    theirs_t, ours_t = [], []
    for _ in range(repeats):
        theirs, w, c = timed(lambda: lm.loglikelihood_rolling(instances, disable_tqdm=True))
        theirs_t.append((w, c))
        ours, w, c = timed(
            lambda: DocumentWindows(docs, tokenizer, max_length).score(model, batch_size, False)
        )
        ours_t.append((w, c))
    diff = max(abs(a - b.logprob) for a, b in zip(theirs, ours))
    rel = max(abs(a - b.logprob) / max(1.0, abs(a)) for a, b in zip(theirs, ours))
    tw, tc = statistics.median(t[0] for t in theirs_t), statistics.median(t[1] for t in theirs_t)
    ow, oc = statistics.median(t[0] for t in ours_t), statistics.median(t[1] for t in ours_t)
    tokens = sum(b.tokens for b in ours)
    print(f"\nperplexity: {len(texts)} documents, {tokens} tokens, max_length {max_length}")
    print(f"  lm-eval  {tw:7.2f}s wall {tc:7.2f} CPU-s   lmforge {ow:7.2f}s wall {oc:7.2f} CPU-s   "
          f"speed-up {tw / ow:.2f}x wall, {tc / oc:.2f}x CPU   max |dLL| {diff:.2e} (relative {rel:.1e})")  # fmt: skip


def _pair(theirs: dict, ours: dict, metric: str) -> str:
    if metric not in theirs:
        return "-"
    return f"{theirs[metric]:.4f}/{ours.get(metric, float('nan')):.4f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face OLMo folder (with tokenizer files)")
    ap.add_argument("--tasks", default=DEFAULT_TASKS)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=4, help="the same for both (run.sh's default is 4)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="1: the box is shared; more threads thrash")
    ap.add_argument(
        "--mmlu-subjects", type=int, default=0, help="also the first N MMLU subjects (test split)"
    )
    ap.add_argument("--mmlu-shots", type=int, default=5, help="MMLU shots: the first K of the dev split")
    ap.add_argument("--ppl-dir", default=None, help="also compare loglikelihood_rolling on these documents")
    ap.add_argument("--ppl-max-length", type=int, default=None)
    args = ap.parse_args()

    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                      TOKENIZERS_PARALLELISM="false", LMEVAL_BENCH_DATA=os.path.join(SHARED, "data", "eval"))  # fmt: skip
    import logging

    import lm_eval
    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    import lmforge
    from lmforge.eval.tokenizer import load_eval_tokenizer

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, BENCH_TASKS)  # the bench tasks import their local_utils module
    lm = HFLM(pretrained=args.model, batch_size=args.batch_size, device="cpu", dtype="float32")
    model = lmforge.load_model(args.model, dtype=torch.float32).eval()
    tokenizer = load_eval_tokenizer(args.model)
    max_length = lm.max_length
    manager = TaskManager(include_path=BENCH_TASKS, include_defaults=False)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    tasks = manager.load_task_or_group([f"bench_{n}" for n in names])
    print(f"lm-eval {lm_eval.__version__} hf backend vs lmforge on {args.model}: limit {args.limit}, batch "
          f"size {args.batch_size}, {args.threads} threads, {args.repeats} interleaved repeats (median)")  # fmt: skip
    header = (f"{'task':14s} {'n':>5s} {'lm-eval ex/s':>12s} {'lmforge ex/s':>12s} {'speed-up':>8s} "
              f"{'CPU ratio':>9s}  {'acc lm-eval/lmforge':>20s} {'acc_norm lm-eval/lmforge':>25s} {'max|dLL|':>9s}")  # fmt: skip
    print(header)
    totals = {"theirs": 0.0, "ours": 0.0, "theirs_cpu": 0.0, "ours_cpu": 0.0, "n": 0}
    identical = True
    runs = [(name, tasks[f"bench_{name}"], 0) for name in names]
    runs += [(f"mmlu_{s}", task, args.mmlu_shots) for s, task in mmlu_tasks(args.mmlu_subjects).items()]
    for name, lm_task, shots in runs:
        theirs_t, ours_t = [], []
        for _ in range(args.repeats):
            t_metrics, t_lls, n, tw, tc = lm_eval_side(lm_task, lm, args.limit, shots)
            theirs_t.append((tw, tc))
            o_metrics, o_lls, n2, ow, oc = lmforge_side(
                name, model, tokenizer, args.limit, args.batch_size, max_length, shots
            )
            ours_t.append((ow, oc))
        assert n == n2, (name, n, n2)
        tw, tc = statistics.median(t[0] for t in theirs_t), statistics.median(t[1] for t in theirs_t)
        ow, oc = statistics.median(t[0] for t in ours_t), statistics.median(t[1] for t in ours_t)
        diff = max(abs(a - b) for a, b in zip(t_lls, o_lls))
        same = all(abs(t_metrics[m] - o_metrics[m]) < 1e-12 for m in ("acc", "acc_norm") if m in t_metrics)
        identical &= same
        print(f"{name:14s} {n:5d} {n / tw:12.1f} {n / ow:12.1f} {tw / ow:7.2f}x {tc / oc:8.2f}x  {_pair(t_metrics, o_metrics, 'acc'):>20s} "
              f"{_pair(t_metrics, o_metrics, 'acc_norm'):>25s} {diff:9.1e}")  # fmt: skip
        totals["theirs"] += tw
        totals["ours"] += ow
        totals["theirs_cpu"] += tc
        totals["ours_cpu"] += oc
        totals["n"] += n
    if totals["n"]:
        print(f"{'all':14s} {totals['n']:5d} {totals['n'] / totals['theirs']:12.1f} {totals['n'] / totals['ours']:12.1f} "
              f"{totals['theirs'] / totals['ours']:7.2f}x {totals['theirs_cpu'] / totals['ours_cpu']:8.2f}x  "
              f"accuracies identical: {identical}")  # fmt: skip
    if args.ppl_dir:
        ppl_compare(args.ppl_dir, model, tokenizer, HFLM(pretrained=args.model, batch_size=args.batch_size,
                    device="cpu", dtype="float32", max_length=args.ppl_max_length or max_length),
                    args.ppl_max_length or max_length, args.batch_size, args.repeats)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
