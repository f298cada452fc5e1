"""Selection methods (core/select.py, core/select_geo.py) on hand-made inputs whose answer is known."""
import numpy as np
import pytest

from core.select import (
    METHODS,
    cfds,
    deita,
    facility_location,
    kcenter,
    kmeans_groups,
    knn_graph,
    longest,
    quotas,
    random_sample,
    required_inputs,
    resolve_budget,
    run_method,
    stratified,
)


def _line(n=7):
    """Points (1, t) for t evenly spaced in [-3, 3]: their angles are increasing, so cosine distance orders them
    along the line; rows 0 and n-1 are the extremes, row n // 2 the middle."""
    return np.array([[1.0, t] for t in np.linspace(-3, 3, n)], np.float32)


def _blobs(sizes=(30, 10), dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim, dtype=np.float32)[: len(sizes)] * 4
    return np.concatenate([c + rng.normal(scale=0.3, size=(s, dim)) for c, s in zip(centres, sizes)]).astype(np.float32)


def naive_cfds(tags, budget, seed):
    """The walk exactly as InsTag describes it, for comparison (same tie order as cfds)."""
    sets = [set(t or ()) for t in tags]
    order = np.random.default_rng(seed).permutation(len(tags))
    order = [int(i) for i in order[np.argsort([-len(sets[i]) for i in order], kind="stable")]]
    rest, out = [i for i in order if sets[i]], []
    while rest and len(out) < budget:
        covered, left = set(), []
        for i in rest:
            if len(out) < budget and sets[i] - covered:
                out.append(i)
                covered |= sets[i]
            else:
                left.append(i)
        rest = left
    return out + [i for i in order if not sets[i]][: budget - len(out)]


# ---------------------------------------------------------------------------------------------------- CFDS
TAGS6 = [["a", "e"], ["a", "b", "c", "d"], ["c"], ["a", "e", "f"], [], ["b", "c", "d", "e", "f"]]


def test_cfds_six_rows_known_order():
    # by tag count: 5 (5 tags), 1 (4), 3 (3), 0 (2), 2 (1), 4 (none)
    # pass 1: 5 covers b c d e f; 1 brings a; 3 (a e f), 0 (a e), 2 (c) bring nothing -> [5, 1]
    # pass 2 over 3, 0, 2 with the covered set reset: 3 covers a e f; 0 (a e) nothing; 2 brings c -> [3, 2]
    # pass 3: 0 -> [0]; then the untagged row 4 last
    assert cfds(TAGS6, 10).tolist() == [5, 1, 3, 2, 0, 4]
    assert cfds(TAGS6, 3).tolist() == [5, 1, 3]
    assert cfds(TAGS6, 0).tolist() == []


def test_cfds_matches_the_plain_walk_and_breaks_ties_by_seed():
    rng = np.random.default_rng(3)
    vocab = [f"t{i}" for i in range(12)]
    tags = [list(rng.choice(vocab, rng.integers(0, 4))) for _ in range(200)] + [None, None]
    for seed in (0, 1):
        for budget in (5, 40, 150, 300):
            assert cfds(tags, budget, seed=seed).tolist() == naive_cfds(tags, budget, seed)
    assert cfds(tags, 40, seed=0).tolist() != cfds(tags, 40, seed=1).tolist()  # ties broken differently
    assert sorted(cfds(tags, 500).tolist()) == list(range(202))


# --------------------------------------------------------------------------------------- deita, longest, random
def test_deita_skips_near_duplicates():
    v = np.array([[1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0.0, 0.98, 0.2], [0, 0, 1]], np.float32)
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    # row 1 ~ row 0 (cos 0.995) and row 3 ~ row 2 (cos 0.98) are skipped
    assert deita(scores, v, 5).tolist() == [0, 2, 4]
    assert deita(scores, v, 2).tolist() == [0, 2]
    assert deita(scores, v, 5, threshold=0.999).tolist() == [0, 1, 2, 3, 4]
    # the blocked implementation (block of 2: duplicates across and within blocks) agrees
    assert deita(scores, v, 5, block=2).tolist() == [0, 2, 4]
    # a higher score for the duplicate flips which one is kept
    assert deita(np.array([4.0, 5.0, 3.0, 2.0, 1.0]), v, 5).tolist() == [1, 2, 4]


def test_deita_blocked_equals_one_by_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    scores = rng.random(300)
    ref = []
    for i in np.argsort(-scores, kind="stable"):
        if all(float(x[i] @ x[j]) <= 0.8 for j in ref):
            ref.append(int(i))
    for block in (1, 7, 64, 1024):
        assert deita(scores, x, 300, threshold=0.8, block=block).tolist() == ref


def test_longest_and_random():
    assert longest([3, 10, 7, 10, np.nan, 1], 4).tolist() == [1, 3, 2, 0]
    assert longest([], 3).tolist() == []
    r = random_sample(50, 10, seed=4)
    assert len(set(r.tolist())) == 10 and r.tolist() == random_sample(50, 10, seed=4).tolist()
    assert r.tolist() != random_sample(50, 10, seed=5).tolist()
    assert sorted(random_sample(5, 99).tolist()) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------------------- k-center
def test_kcenter_on_a_line_picks_the_extremes_first():
    x = _line(7)
    picks = kcenter(x, 7, start=3)
    assert picks[0] == 3 and set(picks[1:3].tolist()) == {0, 6}
    assert sorted(picks.tolist()) == list(range(7))
    # from a random start the second pick is the extreme farthest from it
    p = kcenter(x, 2, seed=1)
    assert p[1] == (6 if p[0] < 3 else 0)


def test_kcenter_pool_is_exact():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    dist, picks = np.full(600, np.inf), [5]
    for _ in range(59):
        dist = np.minimum(dist, 1 - x @ x[picks[-1]])
        dist[picks] = -1
        picks.append(int(np.argmax(dist)))
    for pool in (1, 16, 600):
        assert kcenter(x, 60, start=5, pool=pool).tolist() == picks


# ------------------------------------------------------------------------------------- facility location
def test_facility_location_picks_from_both_blobs():
    x = _blobs((30, 10))
    picks = facility_location(x, 2, k=10)
    assert {int(p) >= 30 for p in picks} == {True, False}
    assert facility_location(x, 2, k=10).tolist() == picks.tolist()


def test_knn_graph_is_exact():
    x = _blobs((25, 15), dim=5, seed=1)
    idx, sim = knn_graph(x, 4)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    s = u @ u.T
    np.fill_diagonal(s, 2)
    ref = np.argsort(-s, axis=1, kind="stable")[:, :4]
    assert (idx[:, 0] == np.arange(40)).all() and np.allclose(sim[:, 0], 1)
    assert np.array_equal(np.sort(idx, 1), np.sort(ref, 1))
    assert (np.diff(sim, axis=1) <= 1e-6).all()


def test_knn_graph_ivf_probing_every_cell_is_exact():
    x = _blobs((30, 20, 10), dim=6, seed=2)
    exact, _ = knn_graph(x, 5)
    approx, _ = knn_graph(x, 5, cells=3, probe=3)
    assert np.array_equal(np.sort(approx, 1), np.sort(exact, 1)) and (approx[:, 0] == np.arange(60)).all()
    one, _ = knn_graph(x, 5, cells=3, probe=1)  # own cell only: neighbours stay in the blob
    assert np.mean([len(set(a) & set(b)) for a, b in zip(one.tolist(), exact.tolist())]) > 4.5
    assert len(facility_location(x, 3, cells=3, probe=1)) == 3


# ---------------------------------------------------------------------------------------------- stratified
def test_quotas_rounding_and_redistribution():
    sizes = np.array([50, 30, 15, 5])
    # proportional: 5, 3, 1.5, 0.5 -> floors 5 3 1 0, one row left for the tied remainders (seeded)
    q = quotas(sizes, 10, "proportional")
    assert q[:2].tolist() == [5, 3] and q[2:].tolist() in ([2, 0], [1, 1])
    assert quotas(np.array([60, 30, 10]), 10, "proportional").tolist() == [6, 3, 1]
    # sqrt: weights 7.07 5.48 3.87 2.24 -> 3.79 2.94 2.08 1.20 -> floors 3 2 2 1, the 2 left go to .94 and .79
    assert quotas(sizes, 10, "sqrt").tolist() == [4, 3, 2, 1]
    assert quotas(np.array([10, 10, 10]), 9, "equal").tolist() == [3, 3, 3]
    # equal with small groups: 5 each; group 0 has 1 row -> 19 left over 3 = 6.33; group 3 has 5 -> 14 over 2 = 7
    assert quotas(np.array([1, 30, 15, 5]), 20, "equal").tolist() == [1, 7, 7, 5]
    assert quotas(np.array([1, 30, 15, 5]), 100, "sqrt").tolist() == [1, 30, 15, 5]
    assert quotas(np.array([4, 0, 4]), 4, "equal").tolist() == [2, 0, 2]
    with pytest.raises(ValueError):
        quotas(sizes, 5, "cubic")


def test_stratified_quotas_within_and_order():
    groups = ["x"] * 6 + ["y"] * 3 + [None]
    picks = stratified(groups, 9, quota="equal", seed=0)
    # equal: 3 each, None has 1 row -> 8 left over x, y = 4 each, y has 3 -> x gets 5
    got = [groups[i] for i in picks]
    assert got.count("x") == 5 and got.count("y") == 3 and got.count(None) == 1
    scores = np.array([1, 9, 3, 8, 2, 7, 5, 6, 4, 0], float)
    top = stratified(groups, 4, quota="proportional", within="score", scores=scores)
    # proportional: 2.4, 1.2, 0.4 -> 2, 1, 0, and the row left goes to x or None (remainders .4 tie: seeded)
    assert {1, 3, 7} <= set(top.tolist()) and len(top) == 4  # best two of x (9, 8) and best of y (6)
    assert set(top.tolist()) - {1, 3, 7} <= {5, 9}  # x's third best (7) or None's only row
    assert top[0] == 1  # x's best comes first (rank 0, group x first seen)
    assert stratified(["a", "b"], 5).tolist() in ([0, 1], [1, 0])
    with pytest.raises(ValueError):
        stratified(groups, 3, within="score")


def test_kmeans_groups_finds_blobs():
    labels = kmeans_groups(_blobs((20, 20)), 2, seed=0)
    assert len(set(labels[:20].tolist())) == 1 and len(set(labels[20:].tolist())) == 1 and labels[0] != labels[-1]


# ------------------------------------------------------------------------------- determinism, edges, registry
def test_every_method_deterministic_empty_and_over_budget():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 16)).astype(np.float32)  # no two rows near-duplicates: deita can fill the budget
    n = len(x)
    inputs = {"tags": [list(rng.choice(list("abcdef"), rng.integers(0, 3))) for _ in range(n)], "vecs": x,
              "scores": rng.random(n), "lengths": rng.integers(1, 50, n), "groups": rng.integers(0, 3, n), "n": n}
    empty = {"tags": [], "vecs": np.zeros((0, 6), np.float32), "scores": np.zeros(0), "lengths": np.zeros(0),
             "groups": np.zeros(0, int), "n": 0}
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert (u @ u.T - 2 * np.eye(n)).max() < 0.9
    for name in METHODS:
        params = {"seed": 7} if name in ("cfds", "kcenter", "stratified", "random") else {}
        a = run_method(name, 5, inputs, params)
        assert a.tolist() == run_method(name, 5, inputs, params).tolist() and len(a) == 5, name
        big = run_method(name, n + 10, inputs, params)
        assert len(big) <= n and len(set(big.tolist())) == len(big), name
        assert run_method(name, 10, empty, params).tolist() == [], name
    assert len(run_method("facility", n + 10, inputs)) == n and len(run_method("kcenter", n, inputs)) == n
    assert len(run_method("stratified", "25%", inputs, {"kmeans": 3, "seed": 1})) == 5


def test_budget_and_registry_errors():
    assert resolve_budget("5%", 200) == 10 and resolve_budget(0.1, 200) == 20 and resolve_budget(30, 20) == 20
    assert resolve_budget("12", 100) == 12 and resolve_budget(1.0, 100) == 1 and resolve_budget("100%", 7) == 7
    with pytest.raises(ValueError):
        resolve_budget(-1, 10)
    with pytest.raises(ValueError):
        resolve_budget("lots", 10)
    assert required_inputs("stratified", {"within": "score"}) == ("groups", "scores")
    with pytest.raises(ValueError, match="needs vecs"):
        run_method("kcenter", 3, {"n": 5})
    with pytest.raises(ValueError, match="unknown"):
        required_inputs("magic")
