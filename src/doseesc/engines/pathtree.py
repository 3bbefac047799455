"""Monte Carlo on the tree of a design's paths: one uniform per trial, its whole history at once.

A design's table (:func:`doseesc.designs.compile_design`) merges trials that reached the same
decision state by different paths; unrolled, its states form a tree whose nodes are the paths
themselves (every sequence of cohort outcomes that can occur), and whose leaves are the finished
trials.  When every trial has the same outcome distributions (one kind of trial, no common random
numbers) and the tree is small (the 3+3 and the other A+B designs over a few doses: hundreds to a
few thousand nodes), a leaf's probability is the product of its cohorts' outcome probabilities,
and a simulated trial is one draw from the distribution of leaves: its uniform, inverted through
the leaves' cumulative probabilities.  What the step engine (:mod:`doseesc.engines.montecarlo`)
tallies at every step (cohort outcomes per state, patients, DLTs, events per dose, the patient
split) is a function of the path, so it is read once per chunk from how many trials ended in each
leaf.

The inversion is exact for a 53-bit uniform ``m / 2**53`` (numpy's ``random()``): leaf ``k`` is the
number of cumulative thresholds ``t`` with ``m >= ceil(t * 2**53)``.  The top ``bits`` bits of ``m``
(its bin, at most 16 bits) decide the leaf for almost every trial, so a block of trials is counted
per bin with one ``bincount``.  A trial whose bin a threshold splits (at most one bin per leaf: a
fraction below ``n_leaves / 2**bits`` of the trials) draws the bits of ``m`` below its bin from a
second number; a table of the split bins' sub-bins then gives its leaf, and a search of the
thresholds is left for the few in split sub-bins.

Randomness: the trials draw from ``PCG64(SeedSequence(seed))`` (the root of the run's blocks, whose
children the step engine uses).  Trial ``t`` of the run takes the top bits of its bin from 16-bit
lane ``t`` of that stream (lane ``t % 4``, lowest first, of number ``t // 4``); the trials of block
``b`` in split bins, in order of bin and then of trial, take the bits below from numbers
``b * block_trials`` on of the same generator ``jumped()`` once, a stream of its own.  A chunk
``advance``-s both to its first block, so a seed gives the same trials whatever the chunking or the
number of processes, without seeding a generator per block.  The trials differ from the step
engine's (one uniform per cohort); their distribution is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from doseesc.designs.base import DecisionTable
from doseesc.engines.cohorts import CohortOutcomes
from doseesc.engines.parallel import Blocks
from doseesc.engines.records import Records

MAX_NODES = 1 << 13
"""Most nodes of a tree this engine builds (else the step engine runs)."""

_LOW_BITS = 53
"""Bits of a uniform (numpy's ``random()``: the top 53 of a 64-bit number)."""

_LANES = 4
"""Trials' bins per 64-bit number: one 16-bit lane each (a bin has at most 16 bits)."""

_SUB_BITS = 8
"""Bits of a split bin's look-up table of sub-bins (``searchsorted`` only where one is split)."""


def bin_bits(n_leaves: int) -> int:
    """Bits of a uniform's bin: about 32 bins per leaf, within 2**10 to 2**14 bins.  Under 3% of the
    trials then fall in a bin a threshold splits (1.8% for the 3+3 over 6 doses), whose arrays stay
    small enough for the allocator to reuse (fewer bins made them large enough to be given back to
    the system and faulted in again, chunk after chunk), while a block's ``bincount`` (8 bytes per
    bin) stays in the processor's cache."""
    return int(np.clip(int(n_leaves - 1).bit_length() + 5, 10, 14))


def _at_or_below(thresholds: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How many of ``thresholds`` lie at or below each of the increasing ``points`` (as
    ``searchsorted(thresholds, points, "right")``, searching the few thresholds among the many
    points instead)."""
    first = np.searchsorted(points, thresholds, "left")  # the first point at or above each threshold
    return np.cumsum(np.bincount(first, minlength=points.size + 1))[: points.size]


@dataclass(frozen=True, eq=False)
class PathTree:
    """The paths of a design under one set of cohort-outcome distributions.

    Nodes ``0 .. n_internal - 1`` are running trials (0: none treated yet), the others (leaves)
    finished ones, leaf ``k`` being node ``n_internal + k``.  ``at_least[k]`` is the smallest 53-bit
    integer ``m`` whose uniform ``m / 2**53`` lies at or above the cumulative probability of leaves
    ``0 .. k``; ``bin_leaf[b]`` is the leaf of every uniform in bin ``b`` (its top ``bits`` bits)
    where no threshold splits the bin, and ``split_bins`` lists (sorted) the bins one splits."""

    bits: int
    n_internal: int
    probability: np.ndarray  # (n_leaves,) probability of each leaf's path
    at_least: np.ndarray  # (n_leaves - 1,) int64 thresholds of the 53-bit integer
    bin_leaf: np.ndarray  # (2**bits,) the leaf of the bin's uniforms, where the bin is not split
    leaf_edges: np.ndarray  # (n_leaves + 1,) the first bin of each leaf's run in bin_leaf, then 2**bits
    split_bins: np.ndarray  # sorted bins a threshold splits
    sub_leaf: np.ndarray  # (n_split << _SUB_BITS,) the same for the sub-bins of split bins, -1: split
    parent: np.ndarray  # (n_nodes,) parent node (-1: the root)
    outcome: np.ndarray  # (n_nodes,) state * J + j of the cohort that led to the node (-1: root)
    levels: tuple[np.ndarray, ...]  # the nodes at each depth, root first
    final: np.ndarray  # (n_leaves,) 0: no dose selected, else 1 + the dose selected
    n: np.ndarray  # (n_leaves, n_doses) patients per dose of the leaf's trial
    y: np.ndarray  # (n_leaves, n_doses) DLTs per dose
    events: np.ndarray  # (n_leaves, n_doses) events tallied per dose
    split: np.ndarray | None  # (n_leaves, 2) patients at / above the acceptable doses

    @classmethod
    def of(
        cls,
        table: DecisionTable,
        outcomes: CohortOutcomes,
        thresholds: np.ndarray,
        next_state: np.ndarray,
        split: np.ndarray | None,
        max_nodes: int = MAX_NODES,
    ) -> PathTree | None:
        """The tree of ``table``'s paths, cohort outcomes drawn from ``thresholds`` (``(J - 1,
        n_states)``: a state's cohort has outcome ``j`` with probability the width of the ``j``-th
        interval they cut [0, 1) into) and states following ``next_state`` (``state * J + j``).
        ``split`` (``(2, n_states)``) holds the patients a state's cohort adds at / above the
        acceptable doses.  None when the tree would have more than ``max_nodes`` nodes."""
        n_out, n_live, n_doses = outcomes.counts.shape[0], table.n_live, table.n_doses
        n_states = thresholds.shape[1]
        edges = np.concatenate([np.zeros((1, n_states)), thresholds, np.ones((1, n_states))])
        width = np.diff(edges, axis=0).T  # (n_states, J): probability of outcome j
        possible = width > 0
        possible[n_live:] = False
        dose = np.concatenate([table.dose, np.zeros(n_states - n_live, dtype=table.dose.dtype)])
        size = np.concatenate([table.size, np.zeros(n_states - n_live, dtype=table.size.dtype)])
        zero = np.zeros((1, n_doses), dtype=np.int32)
        state, parent, outcome = [np.zeros(1, np.intp)], [np.full(1, -1, np.intp)], [np.full(1, -1, np.intp)]
        prob = [np.ones(1)]
        n, y, ev = [zero], [zero], [zero]
        sp = [np.zeros((1, 2), dtype=np.int32)]
        first, count = 0, 1
        while True:
            at, j = np.nonzero(possible[state[-1]])
            if at.size == 0:
                break
            if count + at.size > max_nodes:
                return None
            s = state[-1][at]
            o = s * n_out + j
            state.append(next_state[o])
            parent.append(first + at)
            outcome.append(o)
            prob.append(prob[-1][at] * width[s, j])
            rows = np.arange(at.size)
            for acc, add in ((n, size[s]), (y, outcomes.dlt[j]), (ev, outcomes.events[j])):
                a = acc[-1][at]
                a[rows, dose[s]] += add.astype(np.int32)
                acc.append(a)
            if split is not None:
                sp.append(sp[-1][at] + split[:, s].T)
            first, count = count, count + at.size
        node_state = np.concatenate(state)
        # Running trials first, so that leaf k is node n_internal + k.
        running = node_state < n_live
        order = np.concatenate([np.flatnonzero(running), np.flatnonzero(~running)])
        new = np.empty_like(order)
        new[order] = np.arange(order.size)
        n_internal = int(np.count_nonzero(running))
        node_state = node_state[order]
        parent = np.concatenate(parent)[order]
        parent[1:] = new[parent[1:]]
        outcome = np.concatenate(outcome)[order]
        depth = np.repeat(np.arange(len(state)), [len(s) for s in state])[order]
        levels = tuple(np.flatnonzero(depth == d) for d in range(len(state)))
        leaves = order[n_internal:]
        probability = np.concatenate(prob)[leaves]
        # u >= t exactly when the uniform's 53-bit integer m = u * 2**53 is at least ceil(t * 2**53).
        at_least = np.ceil(np.cumsum(probability[:-1]) * 2.0**_LOW_BITS).astype(np.int64)
        bits = bin_bits(leaves.size)
        below = _LOW_BITS - bits
        start = np.arange(1 << bits, dtype=np.int64) << below
        bin_leaf = _at_or_below(at_least, start)
        split_bins = np.flatnonzero(_at_or_below(at_least, start + ((1 << below) - 1)) != bin_leaf)
        # The same one level down, within the split bins: _SUB_BITS more bits.
        finer = below - _SUB_BITS
        sub_start = ((split_bins[:, None] << below) + (np.arange(1 << _SUB_BITS) << finer)).ravel()
        sub_leaf = _at_or_below(at_least, sub_start)
        sub_split = _at_or_below(at_least, sub_start + ((1 << finer) - 1)) != sub_leaf
        return cls(
            bits=bits,
            n_internal=n_internal,
            probability=probability,
            at_least=at_least,
            bin_leaf=bin_leaf,
            leaf_edges=np.searchsorted(bin_leaf, np.arange(leaves.size + 1)),
            split_bins=split_bins,
            sub_leaf=np.where(sub_split, -1, sub_leaf).astype(np.int32),
            parent=parent,
            outcome=outcome,
            levels=levels,
            final=node_state[n_internal:] - n_live,
            n=np.concatenate(n)[leaves],
            y=np.concatenate(y)[leaves],
            events=np.concatenate(ev)[leaves],
            split=None if split is None else np.concatenate(sp)[leaves],
        )

    @property
    def n_leaves(self) -> int:
        return self.final.shape[0]

    def run(self, blocks: Blocks, records: Records | None = None) -> np.ndarray:
        """Simulate the trials of the run of ``blocks``; ``(n_leaves,)`` trials ended in each leaf.

        ``records``, if given, receives the record of the run's ``i``-th trial at row ``i``."""
        n_blocks, sizes, stride = len(blocks), blocks.sizes, blocks.block_trials
        split_bins, to_bin = self.split_bins, 16 - self.bits
        bins = np.random.PCG64(blocks.root)
        bins.advance(blocks.first * stride // _LANES)
        keys = [] if records is not None else None
        key = np.empty(stride, np.intp)
        per_bin = np.zeros(1 << self.bits, dtype=np.int64)
        split_counts = []  # per block, its trials in each split bin
        for c in sizes:
            lanes = bins.random_raw(-(-c // _LANES)).astype("<u8", copy=False).view("<u2")
            k = key[:c] if keys is None else np.empty(c, np.intp)
            np.right_shift(lanes[:c], to_bin, out=k)
            counts = np.bincount(k, minlength=per_bin.size)
            per_bin += counts
            split_counts.append(counts[split_bins])
            if keys is not None:
                keys.append(k)
        in_split = np.stack(split_counts)
        # The bits below the bin of the trials in split bins: block b's from number b * stride on.
        resolve = np.random.PCG64(blocks.root).jumped()
        resolve.advance(blocks.first * stride)
        n_split = in_split.sum(axis=1).tolist()
        draws = []
        for s in n_split:
            draws.append(resolve.random_raw(s))
            resolve.advance(stride - s)
        below = _LOW_BITS - self.bits
        record = np.repeat(np.tile(np.arange(split_bins.size), n_blocks), in_split.ravel())
        offset = (np.concatenate(draws) >> np.uint64(64 - below)).view(np.int64)
        leaf_of_m = np.take(self.sub_leaf, (record << _SUB_BITS) + (offset >> (below - _SUB_BITS)))
        finest = np.flatnonzero(leaf_of_m < 0)
        if finest.size:
            m = (np.take(split_bins, np.take(record, finest)) << below) + np.take(offset, finest)
            leaf_of_m[finest] = np.searchsorted(self.at_least, m, "right")
        per_bin[split_bins] = 0
        # Leaf k's bins run from leaf_edges[k] to leaf_edges[k + 1] (leaves follow the uniform).
        ended = np.diff(np.concatenate([[0], np.cumsum(per_bin)])[self.leaf_edges])
        ended += np.bincount(leaf_of_m, minlength=self.n_leaves)
        if records is not None:
            first = np.cumsum([0, *n_split])
            for b, k in enumerate(keys):
                self._record(records, b * stride, k, leaf_of_m[first[b] : first[b + 1]])
        return ended

    def _record(self, records: Records, row: int, key: np.ndarray, leaf_in_split: np.ndarray) -> None:
        """Records of a block's trials from their bins ``key`` and, in order of bin and trial, the
        leaves of those in split bins."""
        leaf = np.take(self.bin_leaf, key)
        split = np.flatnonzero(np.isin(key, self.split_bins))
        leaf[split[np.argsort(np.take(key, split), kind="stable")]] = leaf_in_split
        rows = slice(row, row + key.shape[0])
        records.selected[rows] = self.final[leaf] - 1
        records.n[rows] = self.n[leaf]
        records.y[rows] = self.y[leaf]

    def passed(self, ended: np.ndarray) -> np.ndarray:
        """``(n_nodes,)`` trials that reached each node, from the trials ``ended`` in each leaf."""
        through = np.zeros(self.parent.shape[0], dtype=np.int64)
        through[self.n_internal :] = ended
        for nodes in self.levels[:0:-1]:
            through += _count(self.parent[nodes], through[nodes], through.shape[0])
        return through


def _count(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``(size,)`` int64 sums of the integer ``weights`` per ``index`` (a ``bincount``: its float64
    sums are exact below 2**53 trials)."""
    return np.rint(np.bincount(index, weights=weights, minlength=size)).astype(np.int64)


def leaf_sums(
    tree: PathTree, ended: np.ndarray, n_events: int, limit: int, levels: int
) -> dict[str, np.ndarray]:
    """The step engine's integer tallies (the fields of :class:`doseesc.engines.montecarlo._Tally`)
    from the trials ``ended`` in each leaf: ``weights`` counts cohorts per live state and outcome
    (``state * J + j``, ``limit`` = n_live * J of them), the histograms have ``levels`` entries (the
    possible total sample sizes), and the rest are sums over trials of what each leaf's path holds."""
    through = tree.passed(ended)
    weights = _count(tree.outcome[1:], through[1:], limit)
    n_doses = tree.n.shape[1]
    selected = _count(tree.final, ended, n_doses + 1)
    n = tree.n.sum(axis=1).astype(np.intp)
    total_n = _count(n, ended, levels)
    total_dlt = _count(tree.y.sum(axis=1).astype(np.intp), ended, levels)
    ev = tree.events.astype(np.int64)
    events = np.zeros((n_events, n_doses), dtype=np.int64)
    events_sq = np.zeros((n_events, n_doses), dtype=np.int64)
    total_events_sq = np.zeros(n_events, dtype=np.int64)
    if n_events:
        events[0] = ended @ ev
        events_sq[0] = ended @ ev**2
        total_events_sq[0] = ended @ ev.sum(axis=1) ** 2
    split = np.zeros(3, dtype=np.int64)
    products = np.zeros((3, 3), dtype=np.int64)
    if tree.split is not None:
        x = np.column_stack([tree.split.astype(np.int64), n])
        split = ended @ x
        products = x.T @ (ended[:, None] * x)
    return {
        "weights": weights,
        "selected": selected,
        "total_n": total_n,
        "total_dlt": total_dlt,
        "events": events,
        "events_sq": events_sq,
        "total_events_sq": total_events_sq,
        "split": split,
        "split_products": products,
    }


__all__: Sequence[str] = ["MAX_NODES", "PathTree", "leaf_sums"]
