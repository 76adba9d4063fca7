"""Helpers shared by the tests of the grid atoms (layer-convergence, weight-regularization,
batch-size-learning-rate, transfer-learning): a claim's evidence."""





# ---------------------------------------------------------------- claims (default configuration)
def _evidence(outcome, prefix: str):
    return next(e for e in outcome.verdict.evidence if e.metric.startswith(prefix))
