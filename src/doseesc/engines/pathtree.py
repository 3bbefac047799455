"""Monte Carlo on the tree of a design's paths: a trial's whole history as its one state.

A design's table (:func:`doseesc.designs.compile_design`) merges trials that reached the same
decision state by different paths; unrolled, its states form a tree whose nodes are the paths
themselves (every sequence of cohort outcomes that can occur), and whose leaves are the finished
trials.  When every trial has the same outcome distributions (one kind of trial, no common random
numbers) and the tree is small (the 3+3 and the A+B designs over a few doses: a few thousand nodes),
a simulated trial is then one integer, its node: a step is a draw, one look-up by (node, bin of the
uniform) and, in the few bins a threshold of the cohort's distribution splits, a comparison.  What
the step engine tallies at every step (cohort outcomes per state, patients, DLTs, events per dose,
the patient split) is a function of the path, so it is read once per chunk from how many trials
ended in each leaf.

The uniforms are those of the step engine (:mod:`doseesc.engines.montecarlo`): one 64-bit number per
trial in the block's arrays per step, finished trials leaving the arrays at the same fixed steps,
the same bins and thresholds; so the results are bit for bit those of the step engine.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from doseesc.designs.base import DecisionTable
from doseesc.engines.cohorts import CohortOutcomes
from doseesc.engines.records import Records

MAX_NODES = 1 << 13
"""Most nodes of a tree this engine builds (else the step engine runs): its look-up table then
holds at most ``MAX_NODES << bits`` entries of 8 bytes (16 MB with 256 bins)."""


@dataclass(frozen=True, eq=False)
class PathTree:
    """The paths of a design under one set of cohort-outcome distributions.

    Nodes ``0 .. n_internal - 1`` are running trials (0: none treated yet), the others (leaves)
    finished ones; ``node << bits`` is a trial's key.  ``lookup[(node << bits) + b]`` is the key
    after a cohort whose uniform lies in bin ``b`` (the top ``bits`` bits of its 53), where no
    threshold of the cohort's distribution splits the bin; a leaf's row keeps it where it is.  The
    ``r``-th bin a threshold splits holds ``(n_nodes << bits) + r`` instead: the outcome is then the
    number of thresholds at or below the uniform, found by comparing its remaining bits with those
    of the thresholds inside the bin (``split_at``, sorted: one ``searchsorted`` for all)."""

    bits: int
    n_internal: int
    lookup: np.ndarray  # (n_nodes << bits,) next key, or (n_nodes << bits) + r: split record r
    split_at: np.ndarray  # sorted (r << (53 - bits)) + the low bits of a threshold inside r's bin
    split_key: np.ndarray  # per record, the keys after each outcome its bin holds, in order
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
        bins: np.ndarray,
        next_state: np.ndarray,
        split: np.ndarray | None,
        max_nodes: int = MAX_NODES,
    ) -> PathTree | None:
        """The tree of ``table``'s paths, cohort outcomes drawn from ``thresholds`` (``(J - 1,
        n_states)``: a state's cohort has outcome ``j`` when ``j`` thresholds are at or below its
        uniform) and states following ``next_state`` (``state * J + j``).  ``bins`` (``(n_states,
        2**bits)``) is the outcome of every uniform in each bin of a state's row, -1 where a
        threshold lies inside the bin; ``split`` (``(2, n_states)``) the patients a state's cohort
        adds at / above the acceptable doses.  None when it would have more than ``max_nodes``
        nodes."""
        n_out, n_live, n_doses = outcomes.counts.shape[0], table.n_live, table.n_doses
        n_states = thresholds.shape[1]
        edges = np.concatenate([np.zeros((1, n_states)), thresholds, np.ones((1, n_states))])
        possible = (edges[1:] > edges[:-1]).T  # (n_states, J): outcome j has a non-empty interval
        possible[n_live:] = False
        dose = np.concatenate([table.dose, np.zeros(n_states - n_live, dtype=table.dose.dtype)])
        size = np.concatenate([table.size, np.zeros(n_states - n_live, dtype=table.size.dtype)])
        zero = np.zeros((1, n_doses), dtype=np.int32)
        state, parent, outcome = [np.zeros(1, np.intp)], [np.full(1, -1, np.intp)], [np.full(1, -1, np.intp)]
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
            rows = np.arange(at.size)
            for acc, add in ((n, size[s]), (y, outcomes.dlt[j]), (ev, outcomes.events[j])):
                a = acc[-1][at]
                a[rows, dose[s]] += add.astype(np.int32)
                acc.append(a)
            if split is not None:
                sp.append(sp[-1][at] + split[:, s].T)
            first, count = count, count + at.size
        node_state = np.concatenate(state)
        # Running trials first, so that a finished one is any key from n_internal << bits.
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
        child = np.repeat(np.arange(order.size)[:, None], n_out, axis=1)  # leaves stay
        child[parent[1:], outcome[1:] % n_out] = np.arange(1, order.size)
        bits = int(bins.shape[1]).bit_length() - 1
        j_of_bin = np.where(running[order, None], bins[node_state], 0)
        lookup = np.take_along_axis(child, np.maximum(j_of_bin, 0), 1) << bits
        # A bin a threshold splits: a record r (key split_base + r), resolved from the uniform's
        # bits below the bin's (see run).
        node, b = np.nonzero(j_of_bin < 0)
        low_bits = 53 - bits
        if node.size >= 1 << (62 - low_bits):
            return None
        split_base = order.size << bits
        lookup[node, b] = split_base + np.arange(node.size)
        # u >= t exactly when the uniform's 53-bit integer m = u * 2**53 is at least ceil(t * 2**53).
        at_least = np.ceil(thresholds[:, node_state[node]].T * 2.0**53).astype(np.int64)
        at_least -= (b << low_bits)[:, None]  # a threshold's low bits, counted from its bin's start
        inside = (at_least > 0) & (at_least < 1 << low_bits)
        first_j = np.count_nonzero(at_least <= 0, axis=1)
        split_at = ((np.arange(node.size) << low_bits)[:, None] + at_least)[inside]
        per_record = np.count_nonzero(inside, axis=1) + 1
        record = np.repeat(np.arange(node.size), per_record)
        rank = np.arange(record.size) - np.repeat(np.cumsum(per_record) - per_record, per_record)
        j = first_j[record] + rank
        split_key = child[node[record], j] << bits
        return cls(
            bits=bits,
            n_internal=n_internal,
            lookup=np.ascontiguousarray(lookup, dtype=np.intp).ravel(),
            split_at=split_at,
            split_key=split_key.astype(np.intp),
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

    def run(
        self,
        blocks: Sequence[tuple[np.random.SeedSequence, int]],
        compact_after: Collection[int],
        records: Records | None = None,
        first_trial: int = 0,
    ) -> np.ndarray:
        """Simulate the trials of ``blocks`` ((seed, trials) pairs) to the end; ``(n_leaves,)``
        trials ended in each leaf.

        Block ``b`` draws from ``Generator(PCG64(seed_b))``, as :class:`~doseesc.streams.TrialStreams`
        does (a model with one kind of trial draws nothing before the cohorts).  Finished trials stay
        in the arrays (they draw, and stay in their leaf) until one of the steps ``compact_after``,
        or until all have finished.  ``records``, if given, receives each trial's record at row
        ``first_trial`` + its index in ``blocks``."""
        bits = self.bits
        first_leaf, split_base = self.n_internal << bits, self.lookup.shape[0]
        top, low_bits = np.uint64(64 - bits), 53 - bits
        low = np.uint64((1 << low_bits) - 1)
        gens = [np.random.Generator(np.random.PCG64(seed)).bit_generator for seed, _ in blocks]
        counts = [c for _, c in blocks]
        total = sum(counts)
        key = np.zeros(total, dtype=np.intp)
        buffer = np.empty(total, dtype=np.intp)
        ended = np.zeros(self.n_leaves, dtype=np.int64)
        trial = np.arange(first_trial, first_trial + total) if records is not None else None
        step = 0
        while total:
            index = buffer[:total]
            starts = [sum(counts[:i]) for i in range(len(counts))]
            raws = [gen.random_raw(c) for gen, c in zip(gens, counts, strict=True)]
            for raw, lo, c in zip(raws, starts, counts, strict=True):
                np.right_shift(raw, top, out=index[lo : lo + c].view(np.uint64))
            index += key
            np.take(self.lookup, index, out=key, mode="clip")
            # Finished trials and split bins in one pass: both have keys from first_leaf on.
            special = np.flatnonzero(key >= first_leaf)
            split = special[np.take(key, special) >= split_base]
            if split.size:
                if len(raws) == 1:
                    raw = np.take(raws[0], split)
                else:
                    cuts = [*np.searchsorted(split, starts).tolist(), split.size]
                    parts = zip(raws, starts, cuts[:-1], cuts[1:], strict=True)
                    raw = np.concatenate([r[split[a:b] - lo] for r, lo, a, b in parts])
                record = np.take(key, split) - split_base
                below = (record << low_bits) + ((raw >> np.uint64(11)) & low).view(np.intp)
                key[split] = np.take(self.split_key, np.searchsorted(self.split_at, below, "right") + record)
                special = special[np.take(key, special) >= first_leaf]
            step += 1
            if special.size == 0 or (step not in compact_after and special.size < total):
                continue
            leaf = (np.take(key, special) >> bits) - self.n_internal
            ended += np.bincount(leaf, minlength=self.n_leaves)
            keep = np.ones(total, dtype=bool)
            keep[special] = False
            if trial is not None:
                rows = np.take(trial, special)
                records.selected[rows] = self.final[leaf] - 1
                records.n[rows] = self.n[leaf]
                records.y[rows] = self.y[leaf]
                trial = np.compress(keep, trial)
            key = np.compress(keep, key)
            done = np.diff(np.searchsorted(special, [*starts, total])).tolist()
            counts = [c - d for c, d in zip(counts, done, strict=True)]
            gens = [g for g, c in zip(gens, counts, strict=True) if c]
            counts = [c for c in counts if c]
            total -= special.size
        return ended

    def passed(self, ended: np.ndarray) -> np.ndarray:
        """``(n_nodes,)`` trials that reached each node, from the trials ``ended`` in each leaf."""
        through = np.zeros(self.parent.shape[0], dtype=np.int64)
        through[self.n_internal :] = ended
        for nodes in self.levels[:0:-1]:
            np.add.at(through, self.parent[nodes], through[nodes])
        return through


def leaf_sums(
    tree: PathTree, ended: np.ndarray, n_events: int, limit: int, levels: int
) -> dict[str, np.ndarray]:
    """The step engine's integer tallies (the fields of :class:`doseesc.engines.montecarlo._Tally`)
    from the trials ``ended`` in each leaf: ``weights`` counts cohorts per live state and outcome
    (``state * J + j``, ``limit`` = n_live * J of them), the histograms have ``levels`` entries (the
    possible total sample sizes), and the rest are sums over trials of what each leaf's path holds."""
    through = tree.passed(ended)
    weights = np.zeros(limit, dtype=np.int64)
    np.add.at(weights, tree.outcome[1:], through[1:])
    n_doses = tree.n.shape[1]
    selected = np.zeros(n_doses + 1, dtype=np.int64)
    np.add.at(selected, tree.final, ended)
    total_n, total_dlt = np.zeros(levels, dtype=np.int64), np.zeros(levels, dtype=np.int64)
    n = tree.n.sum(axis=1).astype(np.intp)
    np.add.at(total_n, n, ended)
    np.add.at(total_dlt, tree.y.sum(axis=1).astype(np.intp), ended)
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
