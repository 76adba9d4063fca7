"""Execution: seeds, estimates, trials, executors (in process, worker processes, Ray), the
runner that caches, computes, stores and judges, and cross-atom dispatch."""
