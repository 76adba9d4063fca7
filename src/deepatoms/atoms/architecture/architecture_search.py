"""Neural architecture search by reinforcement learning vs random search (Zoph & Le 2017;
Baker et al. 2017), at toy scale on digits, on a tabular benchmark.

Search space (522 architectures): a family (MLP or CNN); MLPs with 1–3 hidden layers, widths {16,
32, 64, 128} per layer; CNNs on the 8×8 images with 1–2 conv layers, channels {8, 16, 32} and
kernel size {1, 3, 5} per layer ('same' padding, each followed by a 2×2 average pool), then a
linear read-out; one activation {ReLU, tanh, sigmoid}. Every architecture is trained once per seed
(Adam, 150 steps) and scored by its validation accuracy; REINFORCE and random searches are then
simulated on each seed's table (100 of each, 400 candidates), so the expected best of k candidates
is measured at every budget k. Claim under test: the RL search's best architecture is better than
random search's at an equal budget (later work, e.g. Li & Talwalkar 2019, finds random search a
strong baseline). Budget: ~5–6 min CPU default (2,610 trainings), ~30 s quick (2 seeds).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import stats
from ...atom import Atom
from ...data.digits_split import digits_split
from ...data.digits_tasks import stratified_split
from ...errors import ParamError
from ...figures import new_figure
from ...lab import Lab
from ...params import Params, param
from ...verdict import Verdict, decide
from . import _architecture_search_space as search
from . import _architecture_search_tabular as tabular

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METHODS = ("rl", "random")
VALIDATION_SPLIT_SEED = 20170102  # one fixed train/validation split of the digits training set
HAND_PART = "search beats the hand-designed 64-64 ReLU MLP"
HEADROOM_BUDGET = 16  # control: exhaustive search beats random search's best of this many


@dataclass(frozen=True)
class ArchitectureSearchParams(Params):
    steps: int = param(150, "Adam steps each architecture of the space is trained", ge=1)
    batch_size: int = param(64, "minibatch size", ge=1, le=800)
    lr: float = param(3e-3, "Adam learning rate of the candidates", gt=0)
    searches: int = param(100, "simulated searches of each kind on each seed's table", ge=2)
    rounds: int = param(50, "controller updates per simulated search (rounds of candidates)",
                        ge=1)
    per_round: int = param(8, "candidates per round (the controller's batch)", ge=2)
    budget: int = param(64, "candidates at which the searches are compared (Zoph & Le: an "
                        "equal budget)", ge=2)
    controller_lr: float = param(0.1, "Adam learning rate of the controller's logits", gt=0)
    baseline_decay: float = param(0.9, "decay of the controller's reward baseline", ge=0, lt=1)

    def check(self) -> None:
        if self.budget % self.per_round or self.budget > self.rounds * self.per_round:
            raise ParamError(f"parameter 'budget' ({self.budget}) must be a multiple of "
                             f"'per_round' ({self.per_round}) and at most rounds × per_round "
                             f"({self.rounds * self.per_round})")


def _data(lab: Lab):
    split = digits_split()
    rng = np.random.default_rng(VALIDATION_SPLIT_SEED)
    tr, va = stratified_split(rng, split.y_train, 0.7)
    t = lab.tensor
    return (t(split.x_train[tr]), t(split.y_train[tr]), t(split.x_train[va]),
            t(split.y_train[va]), t(split.x_test), t(split.y_test))


def _train_space(p, lab) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, len(space)) validation and test accuracies: every architecture trained once per
    seed, one population per shape (all seeds together)."""
    data, archs = _data(lab), tabular.space()
    n = len(archs)
    val, test = np.zeros((len(lab.seeds), n)), np.zeros((len(lab.seeds), n))
    shapes = sorted({(a.family, a.layers) for a in archs})
    for k in lab.steps(len(shapes), "architecture-search: training the space", every=1):
        idx = [i for i, a in enumerate(archs) if (a.family, a.layers) == shapes[k]]
        jobs = [(j, s, i) for j, s in enumerate(lab.seeds) for i in idx]
        va, te = search.train_candidates(
            [archs[i] for *_, i in jobs], [lab.torch_generator(s, "init", i) for _, s, i in jobs],
            [lab.torch_generator(s, "batches", i) for _, s, i in jobs], data, p.steps,
            p.batch_size, p.lr)
        for (j, _, i), v, t in zip(jobs, va, te):
            val[j, i], test[j, i] = v, t
    return val, test


def _search_rows(p, lab, seed, val, test) -> list[dict]:
    """The simulated searches on one seed's table, averaged over searches per candidate count."""
    n = p.rounds * p.per_round
    draws = {"rl": tabular.rl_searches(lab.numpy_rng(seed, "controller"), val, p.searches,
                                       p.rounds, p.per_round, p.controller_lr, p.baseline_decay),
             "random": tabular.random_searches(lab.numpy_rng(seed, "random-search"), p.searches,
                                               n)}
    cnn = np.array([a.family == "cnn" for a in tabular.space()])
    rows = []
    for m, d in draws.items():
        curves = tabular.best_so_far(d, val, test) | {"val_accuracy": val[d], "is_cnn": cnn[d]}
        rows += [dict(seed=seed, method=m, candidate=c + 1, metric=k, value=float(v))
                 for k, c_ in curves.items() for c, v in enumerate(c_.mean(0))]
    return rows


def run(p: ArchitectureSearchParams, lab: Lab) -> pd.DataFrame:
    val, test = _train_space(p, lab)
    rows = [dict(seed=s, method="space", candidate=i + 1, metric=k, value=float(v))
            for j, s in enumerate(lab.seeds) for k, t in (("val_accuracy", val[j]),
                                                           ("test_accuracy", test[j]))
            for i, v in enumerate(t)]
    rows += [dict(seed=s, method="space", candidate=0, metric=k, value=float(v))
             for s in lab.seeds for k, v in (("judged_budget", p.budget), ("searches", p.searches))]
    for j, s in enumerate(lab.seeds):
        rows += _search_rows(p, lab, s, val[j], test[j])
    return pd.DataFrame(rows)[["seed", "method", "candidate", "metric", "value"]]


def _space(table: pd.DataFrame, metric: str) -> np.ndarray:
    """(seeds, len(space)) of the table's `metric`, seeds in order."""
    sel = table[(table.method == "space") & (table.metric == metric)]
    return sel.pivot(index="seed", columns="candidate", values="value").sort_index().to_numpy(float)


def _at(table: pd.DataFrame, method: str, metric: str, budget: int) -> np.ndarray:
    """Per seed, `metric` of `method`'s searches at `budget` candidates."""
    sel = table[(table.method == method) & (table.metric == metric) & (table.candidate == budget)]
    return sel.sort_values("seed").value.to_numpy(float)


def _curve_mean(table: pd.DataFrame, method: str, metric: str, budget: int,
                start: float = 0.0) -> np.ndarray:
    """Per seed, the mean of `metric` over candidates start·budget < c ≤ budget."""
    sel = table[(table.method == method) & (table.metric == metric)]
    sel = sel[(sel.candidate > start * budget) & (sel.candidate <= budget)]
    return sel.groupby("seed").value.mean().sort_index().to_numpy(float)


def hand_designed(table: pd.DataFrame) -> np.ndarray:
    """Per seed, the test accuracy of the hand-designed 64-64 ReLU MLP (one of the space)."""
    return _space(table, "test_accuracy")[:, tabular.space().index(search.HAND_DESIGNED)]


def exhaustive(table: pd.DataFrame) -> np.ndarray:
    """Per seed, the test accuracy of the space's best architecture by validation accuracy
    (the first in the space's order on a tie): what searching every architecture finds."""
    val, test = _space(table, "val_accuracy"), _space(table, "test_accuracy")
    return test[np.arange(len(test)), val.argmax(1)]


def n_validation() -> int:
    """Validation examples of the fixed search split (every validation accuracy is k / this)."""
    y = digits_split().y_train
    return len(stratified_split(np.random.default_rng(VALIDATION_SPLIT_SEED), y, 0.7)[1])


def _budget(table: pd.DataFrame) -> int:
    """The candidate count at which the searches are compared (the `budget` parameter)."""
    return int(table[table.metric == "judged_budget"].value.iloc[0])


def _length(table: pd.DataFrame) -> int:
    """Candidates per simulated search (rounds × per_round)."""
    return int(table[table.method == "rl"].candidate.max())


def _searches(table: pd.DataFrame) -> int:
    return int(table[table.metric == "searches"].value.iloc[0])


def _spread_control(table: pd.DataFrame):
    """Control: the space's architectures differ by more than one validation accuracy's standard
    error, so which architecture a search picks can matter. Per seed, the standard deviation of
    the validation accuracies over the whole space against the binomial SE √(p(1 − p)/n) at the
    mean of the two searches' best p at the judged budget."""
    b = _budget(table)
    spread = _space(table, "val_accuracy").std(axis=1, ddof=1)
    best = (_at(table, "rl", "best_val_so_far", b) + _at(table, "random", "best_val_so_far", b)) / 2
    se = float(np.sqrt(np.mean(best * (1 - best)) / n_validation()))
    row = stats.above("validation accuracy SD across the space", spread, se,
                      f"> {se:.3g} (one validation SE at the best's level)", setting="method=space")
    return replace(row, control=True, part="*")


def _headroom_control(table: pd.DataFrame):
    """Control: the benchmark rewards search at all — exhaustive search's pick beats random
    search's expected best of HEADROOM_BUDGET candidates on test accuracy."""
    row = stats.difference(
        f"test accuracy: exhaustive search − random search's best of {HEADROOM_BUDGET}",
        exhaustive(table), _at(table, "random", "test_of_best_so_far", HEADROOM_BUDGET), 0.0,
        "> 0 (more search finds better architectures at this scale)",
        setting="method=space; method=random")
    return replace(row, control=True, part="*")


def _late(table, method, metric, budget):
    return _curve_mean(table, method, metric, budget, start=0.75)


def judge(table: pd.DataFrame) -> Verdict:
    b, n, label = _budget(table), _length(table), "method=rl; method=random"
    rows = (("test_of_best_so_far", _at, b, f"expected test accuracy of the best of {b}",
             "> 0 (RL finds better at an equal budget)"),
            ("best_val_so_far", _at, b, f"expected best validation accuracy of {b}", "> 0"),
            ("test_of_best_so_far", _curve_mean, n, "expected test accuracy of the best, mean "
             f"over budgets 1…{n}", "> 0 (RL ahead along the budget curve)"),
            ("val_accuracy", _late, b, f"mean validation accuracy of candidates "
             f"{3 * b // 4 + 1}…{b}", "> 0 (the controller learns where good architectures are)"))
    evidence = [stats.difference(f"{text}: RL − random", f(table, "rl", metric, k),
                                 f(table, "random", metric, k), 0.0, claim, setting=label)
                for metric, f, k, text, claim in rows]
    evidence.append(replace(stats.difference(
        f"test accuracy: RL's best of {b} − hand-designed", _at(table, "rl", "test_of_best_so_far",
                                                               b), hand_designed(table), 0.0,
        "> 0 (search beats the hand design)", setting="method=rl; method=space"), part=HAND_PART))
    return decide(evidence + [_spread_control(table), _headroom_control(table)],
                  _finding(table) + " " + _best_architectures(table))


def _finding(table: pd.DataFrame) -> str:
    b, n = _budget(table), _length(table)
    m = lambda meth, metric, k=b: float(_at(table, meth, metric, k).mean())
    rl_te, rand_te = (_at(table, "rl", "test_of_best_so_far", b),
                      _at(table, "random", "test_of_best_so_far", b))
    return (f"Expected over {_searches(table)} simulated searches of each kind per seed, on each "
            f"seed's table of all {len(tabular.space())} architectures: at {b} candidates RL's "
            f"best has validation accuracy {m('rl', 'best_val_so_far'):.3f} vs random's "
            f"{m('random', 'best_val_so_far'):.3f}, test accuracy {rl_te.mean():.3f} vs "
            f"{rand_te.mean():.3f} (RL ahead in {int(np.sum(rl_te > rand_te))} of {len(rl_te)} "
            f"seeds), {m('rl', 'rank_of_best_so_far'):.1%} vs "
            f"{m('random', 'rank_of_best_so_far'):.1%} of the space above it by test accuracy; "
            f"at {n} candidates {m('rl', 'test_of_best_so_far', n):.3f} vs "
            f"{m('random', 'test_of_best_so_far', n):.3f}. Exhaustive search "
            f"{exhaustive(table).mean():.3f}, hand-designed 64-64 ReLU "
            f"{hand_designed(table).mean():.3f}. The controller's candidates "
            f"{3 * b // 4 + 1}…{b} average validation accuracy "
            f"{_late(table, 'rl', 'val_accuracy', b).mean():.3f} vs random's "
            f"{_late(table, 'random', 'val_accuracy', b).mean():.3f} (Zoph & Le: RL beats random "
            "search; later work: random search is a strong baseline).")


def _best_architectures(table: pd.DataFrame) -> str:
    """The space's best architecture by test accuracy per seed, and the number of CNNs among
    the space's top 10 by validation accuracy."""
    archs, val, test = tabular.space(), _space(table, "val_accuracy"), _space(table, "test_accuracy")
    seeds = sorted(table.seed.unique())
    top = [sum(archs[i].family == "cnn" for i in np.argsort(-v, kind="stable")[:10]) for v in val]
    return ("The space's best by test accuracy per seed: " + "; ".join(
        f"{s}: {search.describe(archs[int(np.argmax(t))])} ({t.max():.3f})"
        for s, t in zip(seeds, test)) + ". CNNs among the top 10 by validation accuracy: "
            + ", ".join(map(str, top)) + " per seed.")


def figures(table: pd.DataFrame, axes=None) -> dict[str, Figure]:
    fig, panels = new_figure(1, 3, width=4.0, height=3.0, name="budget-curves", axes=axes)
    for ax, metric, title in zip(panels, ("test_of_best_so_far", "rank_of_best_so_far", "is_cnn"),
                                 ("test accuracy of the best so far",
                                  "rank of the best so far in the space", "share of CNNs drawn")):
        for k, m in enumerate(METHODS):
            wide = table[(table.method == m) & (table.metric == metric)].pivot(
                index="seed", columns="candidate", values="value")
            x = wide.columns.to_numpy()
            ax.plot(x, wide.mean(axis=0), color=f"C{k}", label=m)
            ax.fill_between(x, wide.min(axis=0), wide.max(axis=0), color=f"C{k}", alpha=0.2)
        ax.set(xlabel="candidates trained", title=title, xscale="log")
        ax.axvline(_budget(table), color="0.6", ls="--", lw=0.8)
    panels[0].axhline(exhaustive(table).mean(), color="k", ls="-.", label="exhaustive search")
    panels[0].axhline(hand_designed(table).mean(), color="k", ls=":", label="hand-designed")
    panels[0].set(ylabel="test accuracy (mean of searches)")
    panels[1].set(ylabel="share of the space above it", yscale="log")
    panels[2].set(ylabel="share of the draws", ylim=(-0.05, 1.05))
    for ax in panels:
        ax.legend(fontsize=7)
    return {"budget-curves": fig}


ATOM = Atom(
    name="architecture-search",
    family="architecture",
    title="Architecture search by REINFORCE vs random search on digits",
    question="Does a reinforcement-learning controller find better architectures than random "
             "search with the same number of trained candidates?",
    claim="The REINFORCE controller learns (its late candidates beat random draws) and its best "
          "architecture (validation and test accuracy) beats random search's at an equal budget "
          "of candidates, at the judged budget and along the budget curve (Zoph & Le 2017; later "
          "work finds random search a strong baseline). Secondary part: search beats the "
          "hand-designed 64-64 ReLU MLP.",
    sources=("Zoph & Le (2017), Neural architecture search with reinforcement learning, ICLR",
             "Baker, Gupta, Naik & Raskar (2017), Designing neural network architectures using "
             "reinforcement learning, ICLR",
             "Ying, Klein, Real, Christiansen, Murphy & Hutter (2019), NAS-Bench-101: towards "
             "reproducible neural architecture search, ICML (the tabular protocol)",
             "seed article 001 (architecture search)"),
    method="Digits, fixed 70/30 split; its training part split again 70/30 (fixed) into search "
           "training and validation (376) sets. Space (11 decisions, 522 architectures): family "
           "{MLP, CNN}; activation {ReLU, tanh, sigmoid}; MLP: depth {1, 2, 3}, width per layer "
           "{16, 32, 64, 128} (252 MLPs); CNN on the 8×8 images: conv layers {1, 2}, per layer "
           "channels {8, 16, 32} and kernel {1, 3, 5} ('same' padding, bias, activation, 2×2 "
           "average pool), then a linear read-out of the flattened maps (270 CNNs, 0.4k–28k "
           "parameters). Tabular benchmark (issue 16; as NAS-Bench-101): every architecture is "
           "trained once per seed — Xavier init (weights and biases), Adam 3e-3, batch 64, 150 "
           "steps, its own init and minibatches per seed — and its validation and test accuracy "
           "stored; architectures of one shape train together as one population over the seeds "
           "(CNNs as the groups of a grouped convolution). Searches are then simulated on each "
           "seed's table, 100 of each kind with their own random streams, to 400 candidates; a "
           "repeated architecture still costs a candidate. Controller: one softmax per decision "
           "(no RNN), logits from 0, all 11 decisions sampled but only those the architecture "
           "uses enter the log-probability; REINFORCE with an EMA baseline (decay 0.9) and Adam "
           "(0.1) on the logits, rounds of 8 candidates, reward = validation accuracy. Random "
           "search: each decision uniform (so half MLPs, half CNNs). A search's best is its "
           "first candidate with the highest validation accuracy so far; reported per candidate "
           "count, averaged over the searches: its validation and test accuracy and its rank "
           "(the share of the space with a higher test accuracy). Judged per seed (the seeds are "
           "the replicates): RL − random at the judged budget of 64 candidates (the earlier live "
           "search's budget) and averaged over the budget curve 1…400, and the controller's "
           "candidates 49…64 against random draws. Hand-designed: the 64-64 ReLU MLP of the "
           "table. Positive controls (issue 16): the space's architectures differ by more than "
           "the validation standard error (SD of the space's validation accuracies > "
           "√(p(1 − p)/376)), and the benchmark rewards search at all (exhaustive search's pick "
           "beats random search's expected best of 16 on test accuracy).",
    Params=ArchitectureSearchParams,
    run=run,
    judge=judge,
    figures=figures,
    presets={"quick": {"steps": 5, "searches": 10, "rounds": 8, "budget": 32},
             "paper": {"steps": 300, "searches": 400}},
    runtime_s=330.0,
    settings=("method",),
    index_columns=("candidate",),
    minimum_scale={"steps": 150, "searches": 100, "rounds": 8},
)
