#!/usr/bin/python3
"""srnas's samplers against Optuna's on the same lookup table (the replay benchmark).

Reads the lookup table `srnas replay --table FILE` wrote and srnas's own replay of it
(`srnas replay --format json`), replays Optuna's RandomSampler, TPESampler and NSGAIISampler
on the same table under the same rules (analysis/replay.h), and prints the normalised
hypervolume after k evaluations and the seconds per proposal of each, srnas and Optuna side by
side, with their ratios. Run by scripts/bench_optuna.sh; needs /usr/bin/python3 with
python3-optuna (Debian 12: Optuna 3.1) and numpy.

Optuna's search space is define-by-run, as an Optuna user writes a conditional space: a gene is
suggested only where it shapes the network (block slot i only when the stage has more than i
blocks; the x2 stage only with the progressive upsampler); the others are 0, srnas's canonical
encoding (Space::encode), so proposals compare with the table as srnas's do.

The rules, as in srnas replay: a run of BUDGET evaluations; a proposal is mapped to the recorded
genome it equals or, when it is not recorded or already evaluated, to the nearest unevaluated
one (fewest differing genes, ties to the lowest trial number); that entry is the evaluation.
Hypervolume on (-PSNR-RGB, params, runtime ratio) scaled by the table's lo/hi, reference 1.01,
over the COMPLETE evaluated entries; constraint-PRUNED entries count as evaluations (Optuna sees
them as pruned) and add nothing.

What Optuna learns from, two ways (--learn):
  mapped    the history holds the evaluated entry (its genes), as srnas's samplers see it: the
            asked trial is closed as FAIL and the entry added as a COMPLETE trial carrying the
            asked trial's system attributes (NSGA-II's generation);
  proposed  the history holds Optuna's own proposal with the entry's metrics (a plain
            objective(trial) -> table[nearest(proposal)], how an Optuna user would wrap a table).
Both learn nothing from the baseline (srnas's history starts with it; it is not in the space).
"""
import argparse
import collections
import json
import subprocess
import sys
import time
import warnings

import numpy as np
import optuna
try:  # Optuna 3.x (Debian 12): a WFG class
    from optuna._hypervolume import WFG

    def compute_hypervolume(points, ref):
        return WFG().compute(points, ref)
except ImportError:  # Optuna 4.x (Debian 13): a function
    from optuna._hypervolume import compute_hypervolume
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

KS = (1, 2, 5, 10, 20, 50, 80, 100, 200)


class Table:
    def __init__(self, path):
        with open(path) as f:
            t = json.load(f)
        self.genes = [(g["name"], len(g["labels"])) for g in t["genes"]]
        self.labels = {g["name"]: g["labels"] for g in t["genes"]}
        self.kind = t["kind"]
        self.entries = t["entries"]
        self.ref = np.array(t["ref"], dtype=float)
        self.by_id = {e["trial"]: i for i, e in enumerate(self.entries)}
        self.genes_of = [tuple(e["genes"]) for e in self.entries]
        self.dists = {name: CategoricalDistribution(list(range(n))) for name, n in self.genes}
        if not self.entries:
            sys.exit(f"bench_optuna: {path}: the table has no entries")
        for e in self.entries:  # the activity rules above agree with srnas's encode()
            if e["genes"] and self.canonical(e["genes"]) != e["genes"]:
                sys.exit(f"bench_optuna: {path}: trial {e['trial']}: genes {e['genes']} are not in srnas's canonical "
                         f"form {self.canonical(e['genes'])}: the activity rules do not match space kind {self.kind}")

    def active(self, name, v):
        """Whether gene `name` shapes the network, given the values `v` of the genes before it.

        srnas's encode() writes 0 for a gene that does not (an unused block slot), so a proposal
        is compared with the table in that canonical form, and Optuna is asked only for the
        genes that matter (define-by-run, as an Optuna user writes a conditional space)."""
        if self.kind != "unified":
            return True  # krahaon and neptuneai: every gene always shapes the network
        lab = lambda g: self.labels[g][v[g]]
        progressive = lambda: lab("upsampler") == "progressive"
        for stage in ("lr", "x2", "x4"):
            if name.startswith(f"{stage}_block_"):
                return (stage != "x2" or progressive()) and int(lab(f"{stage}_blocks")) > int(name.rsplit("_", 1)[1])
        if name in ("x2_width", "x2_blocks"):
            return progressive()
        return True

    def suggest(self, trial):
        v = {}
        for name, n in self.genes:
            v[name] = trial.suggest_categorical(name, list(range(n))) if self.active(name, v) else 0
        return [v[name] for name, _ in self.genes]

    def active_mask(self, values):
        v, mask = {}, []
        for (name, _), x in zip(self.genes, values):
            v[name] = x
            mask.append(self.active(name, v))
        return mask

    def canonical(self, values):
        return [x if a else 0 for x, a in zip(values, self.active_mask(values))]

    def nearest_unused(self, values, used):
        best, best_d = None, None
        for i, g in enumerate(self.genes_of):
            if used[i]:
                continue
            d = sum(a != b for a, b in zip(g, values)) if len(g) == len(values) else len(values) + 1
            if best_d is None or d < best_d:
                best, best_d = i, d
                if d == 0:
                    break
        return best

    def params_of(self, i):
        """The entry's active genes, as Optuna's trial params."""
        g = self.genes_of[i]
        return {name: x for (name, _), x, a in zip(self.genes, g, self.active_mask(g)) if a}

    def metrics(self, i):
        e = self.entries[i]
        return [e["psnr_rgb"], e["params"], e["runtime_ratio"]]

    def curve(self, order):
        """Hypervolume after each evaluation of `order` (entry indices)."""
        pts, out, hv = [], [], 0.0
        for i in order:
            e = self.entries[i]
            if e["complete"]:
                p = np.array(e["objectives"], dtype=float)
                if not any(np.all(q <= p) for q in pts):
                    pts = [q for q in pts if not np.all(p <= q)] + [p]
                    hv = compute_hypervolume(np.array(pts), self.ref)
            out.append(hv)
        return out


def make_sampler(name, seed, population):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=population, seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    raise ValueError(name)


def optuna_run(table, name, seed, budget, population, learn, workers):
    """One run: the evaluated entry indices in order, and the seconds spent in Optuna.

    With W workers each result is told only after the next W-1 proposals were asked (a steady
    pipeline of equal-length trials: they are RUNNING in the study while it proposes), as
    srnas replay --workers W does."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"],
                                sampler=make_sampler(name, seed, population))
    used = [False] * len(table.entries)
    order, pending, spent = [], collections.deque(), 0.0

    def finish(trial, i):
        complete = table.entries[i]["complete"]
        if learn == "proposed":
            if complete:
                study.tell(trial, table.metrics(i))
            else:
                study.tell(trial, state=TrialState.PRUNED)
            return
        attrs = study._storage.get_trial_system_attrs(trial._trial_id)  # NSGA-II's generation
        params = table.params_of(i)
        study.tell(trial, state=TrialState.FAIL)
        study.add_trial(create_trial(
            state=TrialState.COMPLETE if complete else TrialState.PRUNED,
            values=table.metrics(i) if complete else None, params=params,
            distributions={g: table.dists[g] for g in params}, system_attrs=attrs))

    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask()
        values = table.suggest(trial)
        spent += time.perf_counter() - t0
        i = table.nearest_unused(values, used)
        used[i] = True
        order.append(i)
        pending.append((trial, i))
        if len(pending) >= workers:
            t0 = time.perf_counter()
            finish(*pending.popleft())
            spent += time.perf_counter() - t0
    return order, spent


def summary(curves, k):
    v = np.array([c[k - 1] for c in curves])
    return v.mean(), (v.std(ddof=1) if len(v) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("table", help="srnas replay --table FILE")
    ap.add_argument("--srnas", default="build/srnas", help="the srnas binary")
    ap.add_argument("--db", required=True, help="the study DB (srnas's replay runs on it)")
    ap.add_argument("--budget", type=int, default=80)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="parallel workers (srnas replay --workers)")
    ap.add_argument("--samplers", default="random,tpe,nsga2")
    ap.add_argument("--learn", default="mapped,proposed")
    ap.add_argument("--json", help="write every curve here")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    table = Table(a.table)
    budget = min(a.budget, len(table.entries))
    ks = [k for k in KS if k <= budget] + ([budget] if budget not in KS else [])
    samplers = a.samplers.split(",")
    results = {}  # label -> (curves, seconds per proposal)

    for name in samplers:
        t0 = time.perf_counter()
        out = subprocess.run([a.srnas, "replay", "--db", a.db, "--sampler", name, "--budget", str(budget),
                              "--seeds", str(a.seeds), "--population", str(a.population), "--workers", str(a.workers),
                              "--format", "json"],
                             check=True, capture_output=True, text=True).stdout
        wall = time.perf_counter() - t0
        rep = json.loads(out)[0]
        curves = []
        for s, order in enumerate(rep["orders"]):
            mine = table.curve([table.by_id[t] for t in order])
            worst = max(abs(x - y) for x, y in zip(mine, rep["runs"][s]))
            if worst > 1e-9:
                sys.exit(f"bench_optuna: srnas {name} seed {s}: this script's hypervolume differs from srnas's by "
                         f"{worst:g}: the table and the replay disagree")
            curves.append(mine)
        results[f"srnas {name}"] = (curves, rep["propose_s"] / (a.seeds * budget))
        print(f"[srnas] {name}: {a.seeds} seeds, {rep['propose_s']:.2f} s in the sampler ({wall:.2f} s in all; "
              "hypervolumes re-checked)", flush=True)

    for learn in a.learn.split(","):
        for name in samplers:
            if name == "random" and learn != a.learn.split(",")[0]:
                continue  # random learns nothing: one run is enough
            curves, spent = [], 0.0
            for s in range(a.seeds):
                order, sec = optuna_run(table, name, s, budget, a.population, learn, a.workers)
                curves.append(table.curve(order))
                spent += sec
            label = f"optuna {name}" + ("" if name == "random" else f" ({learn})")
            results[label] = (curves, spent / (a.seeds * budget))
            print(f"[optuna] {label}: {a.seeds} seeds, {spent:.2f} s in Optuna", flush=True)

    print(f"\nnormalised hypervolume (PSNR-RGB, params, runtime ratio) after k evaluations, mean +- sd over "
          f"{a.seeds} seeds; Optuna {optuna.__version__}, population/startup {a.population}, {a.workers} worker(s)")
    w = max(len(x) for x in results)
    print(f"{'sampler':<{w}}" + "".join(f"{'k=' + str(k):>17}" for k in ks) + f"{'ms/proposal':>13}")
    for label, (curves, sec) in results.items():
        row = "".join(f"{m:>9.4f} +- {sd:<5.3f}" for m, sd in (summary(curves, k) for k in ks))
        print(f"{label:<{w}}{row}{sec * 1e3:>13.3f}")
    print("\nsrnas minus Optuna, mean hypervolume (se of a difference = sqrt(sd1^2 + sd2^2) / sqrt(seeds)); "
          "time ratio = Optuna's ms per proposal / srnas's")
    for name in samplers:
        for label in [x for x in results if x.startswith(f"optuna {name}")]:
            mine, theirs = results[f"srnas {name}"], results[label]
            diffs = []
            for k in ks:
                m1, s1 = summary(mine[0], k)
                m2, s2 = summary(theirs[0], k)
                diffs.append(f"{m1 - m2:>+9.4f} ({np.hypot(s1, s2) / np.sqrt(a.seeds):.4f})")
            ratio = theirs[1] / mine[1] if mine[1] > 0 else float("nan")
            print(f"{'srnas - ' + label:<{w + 8}}" + "".join(f"{d:>19}" for d in diffs) + f"   x{ratio:.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({label: {"ms_per_proposal": sec * 1e3, "runs": curves}
                       for label, (curves, sec) in results.items()}, f)


if __name__ == "__main__":
    main()
