"""Family `failures`: Failures of Gradient-Based Deep Learning (seed 000)."""
