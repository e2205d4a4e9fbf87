"""scikit-learn's estimator checks, written for molecule input, for every featuriser.

``check_estimator`` generates numeric matrices, so most of its checks cannot see a featuriser as it is used
(``tests/test_featurisers.py`` runs them through an adapter).  These are the same checks with molecules: what
scikit-learn's ``check_no_attributes_set_in_init``, ``check_parameters_default_constructible``,
``check_get_params_invariance``, ``check_set_params``, ``check_fit_check_is_fitted``,
``check_transformers_unfitted``, ``check_dont_overwrite_parameters``, ``check_fit_idempotent``,
``check_methods_sample_order_invariance``, ``check_methods_subset_invariance``, ``check_estimators_pickle``,
``check_dict_unchanged``, ``check_set_output_transform_pandas`` and ``check_global_output_transform_pandas``
ask, with scikit-learn's own ``clone``, ``check_is_fitted``, ``Pipeline``, ``GridSearchCV`` and
``cross_val_score`` as the oracle.  Input validation (mistaken arguments, bad parameters at fit) is in
``tests/test_newcomer.py``.
"""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pandas as pd
import pytest

import sortslice

from helpers import dense

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Nc1ccccc1",
    "CCCl",
    "CCN",
    "OC(=O)c1ccccc1",
    "CC(C)(C)O",
    "c1ccncc1",
    "CCOC(=O)C",
    "NCCO",
    "C1CCCCC1N",
    "Clc1ccccc1",
    "CC(=O)O",
    "c1ccc2ccccc2c1",
    "CCCCCCO",
    "OCC(O)CO",
]
Y = np.array([0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0])
ALL = ["SortSlice", "HashFold", "MIM", "Filtering"]


def make(cls: str, **params):
    return getattr(sortslice, cls)(**{"length": 32, "radius": 1, **params})


@pytest.mark.parametrize("cls", ALL)
def test_init_only_stores_parameters_and_every_parameter_has_a_default(cls):
    kind = getattr(sortslice, cls)
    names = [p for p in inspect.signature(kind).parameters]
    wild = {n: object() for n in names}  # nothing is checked before fit
    f = kind(**wild)
    assert set(vars(f)) == set(names)
    assert all(getattr(f, n) is v for n, v in wild.items())
    default = kind()
    for p in inspect.signature(kind).parameters.values():
        assert p.default is not inspect.Parameter.empty and getattr(default, p.name) is p.default


@pytest.mark.parametrize("cls", ALL)
def test_clone_and_get_params_round_trip(cls):
    from sklearn.base import clone

    f = make(cls, counts=True, sparse=True)
    assert clone(f).get_params() == f.get_params()
    f.fit(SMILES, Y)
    c = clone(f)
    assert c.get_params() == f.get_params() and type(c) is type(f)
    assert not any(k.endswith("_") for k in vars(c)), "a clone is unfitted"
    assert f.get_params(deep=False) == f.get_params(deep=True)
    assert f.set_params(length=16) is f and f.get_params()["length"] == 16
    with pytest.raises(ValueError, match="invalid parameter 'raduis'"):
        f.set_params(raduis=1)


@pytest.mark.parametrize("cls", ALL)
def test_fit_returns_self_and_scikit_learn_sees_it_fitted(cls):
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import make_pipeline
    from sklearn.utils.validation import check_is_fitted

    f = make(cls)
    with pytest.raises(NotFittedError):
        check_is_fitted(f)
    assert f.fit(SMILES, Y) is f
    check_is_fitted(f)
    names = f.get_feature_names_out()
    assert f.n_features_out_ == 32 and len(names) == 32 and len(set(names)) == 32
    assert all(isinstance(n, str) for n in names)
    assert list(make_pipeline(make(cls)).fit(SMILES, Y).get_feature_names_out()) == list(names)


@pytest.mark.parametrize("cls", ALL)
def test_unfitted_featurisers_raise_not_fitted_error(cls):
    f = make(cls)
    calls = [
        lambda: f.transform(SMILES),
        lambda: f.featurise(SMILES),
        lambda: f.transform_one("CCO"),
        lambda: f.transform_many(SMILES),
        lambda: f.get_feature_names_out(),
        lambda: f.fitted_state,
    ]
    if cls != "HashFold":
        calls += [lambda: f.explain(), lambda: f.draw()]
    for call in calls:
        # scikit-learn's checks accept either base class; its NotFittedError derives from both
        with pytest.raises(sortslice.engine.featurisers.NotFittedError, match="not fitted yet") as err:
            call()
        assert isinstance(err.value, ValueError) and isinstance(err.value, AttributeError)


@pytest.mark.parametrize("cls", ALL)
def test_fit_changes_no_parameter(cls):
    f = make(cls, dtype="float32", n_jobs=1)
    before = copy.deepcopy(f.get_params())
    public = {k: v for k, v in vars(f).items() if not k.endswith("_") and not k.startswith("_")}
    f.fit(SMILES, Y)
    assert f.get_params() == before
    assert {k: v for k, v in vars(f).items() if not k.endswith("_") and not k.startswith("_")} == public


@pytest.mark.parametrize("cls", ALL)
def test_fit_is_idempotent_and_forgets_the_previous_fit(cls):
    f = make(cls)
    first = dense(f.fit(SMILES, Y).transform(SMILES))
    f.fit(SMILES[::-1][:8], Y[::-1][:8])
    assert np.array_equal(dense(f.fit(SMILES, Y).transform(SMILES)), first)


@pytest.mark.parametrize("cls", ALL)
def test_transform_is_row_wise(cls):
    f = make(cls).fit(SMILES, Y)
    X = dense(f.transform(SMILES))
    order = np.random.default_rng(0).permutation(len(SMILES))
    assert np.array_equal(dense(f.transform([SMILES[i] for i in order])), X[order])
    assert np.array_equal(dense(f.transform(SMILES[3:7])), X[3:7])


@pytest.mark.parametrize("cls", ALL)
def test_transform_leaves_the_featuriser_unchanged(cls):
    f = make(cls).fit(SMILES, Y)
    before = pickle.dumps(f)
    keys = set(vars(f))
    f.transform(SMILES)
    f.featurise(SMILES)
    assert set(vars(f)) == keys and pickle.dumps(f) == before


@pytest.mark.parametrize("cls", ALL)
def test_pickle_fitted_and_unfitted(cls):
    f = make(cls, counts=True)
    g = pickle.loads(pickle.dumps(f))
    assert g.get_params() == f.get_params() and not any(k.endswith("_") for k in vars(g))
    f.fit(SMILES, Y)
    g = pickle.loads(pickle.dumps(f))
    assert np.array_equal(dense(g.transform(SMILES)), dense(f.transform(SMILES)))
    assert list(g.get_feature_names_out()) == list(f.get_feature_names_out())


@pytest.mark.parametrize("cls", ALL)
def test_set_output_and_scikit_learns_global_output_setting(cls):
    import sklearn

    f = make(cls).fit(SMILES, Y)
    plain = dense(f.transform(SMILES))
    with sklearn.config_context(transform_output="pandas"):
        X = f.transform(pd.Series(SMILES, index=range(100, 100 + len(SMILES))))
        assert isinstance(X, pd.DataFrame) and list(X.columns) == list(f.get_feature_names_out())
        assert list(X.index) == list(range(100, 100 + len(SMILES))) and np.array_equal(X.to_numpy(), plain)
        assert isinstance(make(cls).set_output(transform="default").fit(SMILES, Y).transform(SMILES), np.ndarray)
    assert isinstance(f.transform(SMILES), np.ndarray)
    assert isinstance(f.set_output(transform="pandas").transform(SMILES), pd.DataFrame)
    with pytest.raises(ValueError, match="transform must be 'default', 'pandas' or 'polars'"):
        f.set_output(transform="numpy")


@pytest.mark.parametrize("cls", ALL)
def test_grid_search_and_cross_val_score_in_a_pipeline(cls):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([("fp", make(cls)), ("clf", LogisticRegression())])
    cv = KFold(2)
    grid = GridSearchCV(pipe, {"fp__radius": [0, 1], "fp__length": [16, 32]}, cv=cv).fit(SMILES, Y)
    for params, score in zip(grid.cv_results_["params"], grid.cv_results_["mean_test_score"]):
        by_hand = cross_val_score(clone(pipe).set_params(**params), SMILES, Y, cv=cv).mean()
        assert score == pytest.approx(by_hand)
    fitted = grid.best_estimator_.named_steps["fp"]
    assert {k: fitted.get_params()[k[4:]] for k in grid.best_params_} == grid.best_params_
