# How tests/data/posterior_arviz0.nc was made: run with ArviZ 0.23.4 (Python 3.11), the last layout
# before ArviZ 1.x, with the groups, dims and attributes landform wrote then. Not part of the suite.
# Writes a posterior.nc as landform's to_inference_data did under ArviZ 0.23 (same groups, dims, attrs).
import json
import warnings

import arviz as az
import numpy as np

rng = np.random.default_rng(0)
C, D, k, n = 2, 6, 3, 4
groups = {
    "posterior": {
        "z": rng.normal(size=(C, D, k)),
        "phi": rng.normal(size=(C, D, k)),
        "t": rng.uniform(size=(C, D)),
        "xi": rng.normal(size=(C, D, k - 1)),
        "sigma": np.full((C, D), 0.3),
    },
    "sample_stats": {
        "lp": rng.normal(size=(C, D)),
        "acceptance_rate": rng.uniform(size=(C, D)),
        "diverging": np.zeros((C, D), bool),
        "n_steps": np.full((C, D), 4),
        "step_size": np.full((C, D), 0.1),
        "trajectory_length": np.full((C, D), 0.4),
    },
    "log_likelihood": {"y": rng.normal(size=(C, D, n))},
}
record = {
    "sampler": "mclmc",
    "num_chains": C,
    "num_failed": 0,
    "kept_chains": json.dumps([0, 1]),
    "failures": json.dumps(["", ""]),
    "compile_seconds": 1.0,
    "warmup_seconds": 2.0,
    "sampling_seconds": 3.0,
    "settings": json.dumps({"sampler": "mclmc"}),
    "temperature": 1.0,
}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    idata = az.from_dict(
        **groups,
        coords={"unconstrained": ["t", "xi_0", "xi_1"]},
        dims={"z": ["unconstrained"], "phi": ["coordinate"], "xi": ["normal"], "y": ["observation"]},
        attrs=record,
    )
idata.to_netcdf("tests/data/posterior_arviz0.nc")
np.savez("tests/data/posterior_arviz0_expected.npz", phi=groups["posterior"]["phi"], y=groups["log_likelihood"]["y"])
print(idata)
