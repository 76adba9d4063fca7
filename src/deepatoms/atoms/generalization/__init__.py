"""Family `generalization`: memorisation, loss surfaces, minima, compression, forgetting, evaluation."""
