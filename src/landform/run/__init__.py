"""Above the studies: sweeps of study runs (plan, attempts, collection), executors (local,
Dask), tracking sinks (W&B, MLflow) and overviews of run and sweep folders."""
