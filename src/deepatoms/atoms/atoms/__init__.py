"""Family `atoms`: Atomic Experiments in Deep Learning (seed 003) and its proposed follow-ups."""
